import pytest

from bot.assistant.intents import COMMAND_WORDS
from bot.assistant.names import InvalidName, clean_name, find_mentions, normalize_name, to_segments
from tests.fakes.photos import BAD_NAMES
from tests.timing import cpu_seconds


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


# Issue 22, item 7: names that look empty, look like another name, or are commands.
INVISIBLE = ["\u3164", "\u115f", "\u1160", "\u2800", "\u200b", "\u3164\u3164", "Bo\u3164", "\ufeffBo",
             "\u2800\u2800", "\uffa0", "B\u200do"]


@pytest.mark.parametrize("name", INVISIBLE)
def test_invisible_names_are_refused(name: str) -> None:
    with pytest.raises(InvalidName) as refused:
        clean_name(name)
    assert "invisible" in str(refused.value) or "letter" in str(refused.value)


@pytest.mark.parametrize("word", sorted(COMMAND_WORDS) + ["Teach", "FORGET", "Forget Me", "/help"[1:], "Concepts"])
def test_command_words_are_refused(word: str) -> None:
    with pytest.raises(InvalidName) as refused:
        clean_name(word)
    assert "command" in str(refused.value)


def test_look_alikes_share_one_key() -> None:
    # Cyrillic В and о look like Latin B and o: the same key, so one user can't hold both.
    assert normalize_name("\u0412\u043e") == normalize_name("Bo") == normalize_name("\u0432\u043e")
    assert normalize_name("\u0392\u03bf") == "bo"  # Greek
    assert normalize_name("\u0406van") == normalize_name("Ivan")  # Cyrillic І
    assert normalize_name("Ｂｏ") == "bo"  # fullwidth, by NFKD
    # Distinct names in other scripts stay distinct.
    assert normalize_name("Бо") != normalize_name("Bo")
    assert len({normalize_name(n) for n in ["Мắm", "Mắm", "Бо", "Bo", "猫", "狗"]}) == 5


def test_a_command_spelled_in_look_alikes_is_refused() -> None:
    with pytest.raises(InvalidName):
        clean_name("\u041d\u0435l\u0440")  # "Неlр": Cyrillic Н, е, р


@pytest.mark.parametrize("name", ["Бо", "Во", "Mắm", "小明", "Ολγα", "Ярослава", "Teacher", "Donetta", "Ask Bo"])
def test_real_names_in_any_script_still_pass(name: str) -> None:
    assert clean_name(name) == name


# Issue 22, item 8: finding mentions is linear in the text's length and its mentions.
def _mention_seconds(repeats: int) -> float:
    text = "is Bo here? " * repeats + "x" * (6 * repeats)  # 18 characters a mention, like the report
    names = [("Bo", 1), ("Bo Jr", 2), ("Mắm", 3)] + [(f"Pal{i}", 10 + i) for i in range(20)]
    index_of = {item: i for i, (_, item) in enumerate(names)}
    assert len(find_mentions(text, names)) == repeats
    return cpu_seconds(lambda: to_segments(text, find_mentions(text, names), index_of), tries=5)


def test_mention_finding_is_fast_and_linear() -> None:
    once = _mention_seconds(6667)  # 120,006 characters, 6,667 mentions
    assert once < 2.0
    # Eight times the text costs about 8x when finding is linear and 64x when quadratic; the bar,
    # 20x, is 2.5 times the one and a third of the other, so a busy machine's noise can't decide it
    # (a bar of 3x at twice the text once failed on CI with a linear 3.05x).
    eight_times = _mention_seconds(8 * 6667)
    assert eight_times < 20 * once


def test_mentions_match_across_runs_of_spaces_and_keep_original_spans() -> None:
    text = "Ask Bo   Jr and Во."
    found = find_mentions(text, [("Bo", 1), ("Bo Jr", 2)])
    assert [(m.item, text[m.start:m.end]) for m in found] == [(2, "Bo   Jr"), (1, "Во")]
