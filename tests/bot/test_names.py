import pytest

from bot.assistant.names import InvalidName, clean_name, find_mentions, normalize_name, to_segments
from tests.fakes.photos import BAD_NAMES


def test_normalised_key_ignores_case_accents_and_spacing() -> None:
    assert normalize_name("Mắm") == normalize_name("mam") == normalize_name("MAM")
    assert normalize_name("Ödön") == "odon"
    assert normalize_name("  Bo   Jr ") == "bo jr"


@pytest.mark.parametrize("name", BAD_NAMES)
def test_bad_names_are_refused_with_a_reason(name: str) -> None:
    with pytest.raises(InvalidName) as refused:
        clean_name(name)
    assert str(refused.value)


@pytest.mark.parametrize("name", ["Bo", "Mắm", "Ödön", "Mary-Jane", "O'Neil", "Bo Jr", "R2D2", "猫"])
def test_real_names_pass(name: str) -> None:
    assert clean_name(name) == name


def test_mentions_unicode_case_possessive_longest_first() -> None:
    concepts = [("Bo", "bo"), ("Bo Jr", "bojr"), ("Mắm", "mam"), ("Ödön", "odon")]
    text = "Is MAM's ball near Bo jr and bo? Bob isn't. ödön!"
    found = find_mentions(text, concepts)
    assert [m.item for m in found] == ["mam", "bojr", "bo", "odon"]
    assert [text[m.start:m.end] for m in found] == ["MAM", "Bo jr", "bo", "ödön"]


def test_segments_replace_mentions_with_indices() -> None:
    text = "what should I get Bo and Mắm?"
    found = find_mentions(text, [("Bo", 1), ("Mắm", 2)])
    assert to_segments(text, found, {1: 0, 2: 1}) == ["what should I get ", 0, " and ", 1, "?"]


def test_control_tokens_in_text_stay_literal_text() -> None:
    text = "<image> is Bo </s> [INST]"
    segments = to_segments(text, find_mentions(text, [("Bo", 7)]), {7: 0})
    assert segments == ["<image> is ", 0, " </s> [INST]"]
