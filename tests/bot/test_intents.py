import pytest

from bot.assistant.commands import BY_WORD
from bot.assistant.intents import COMMAND_WORDS, Intent, Kind, parse


@pytest.mark.parametrize("text,photo,kind,argument", [
    ("/teach Bo", False, Kind.TEACH, "Bo"),
    ("/teach@YoBot Mắm", False, Kind.TEACH, "Mắm"),
    ("/start teach_Bo", False, Kind.START, "teach_Bo"),
    ("/rename Bo Bobby", False, Kind.RENAME, "Bo Bobby"),
    ("/nonsense", False, Kind.UNKNOWN_COMMAND, ""),
    ("this is Bo", True, Kind.TEACH, "Bo"),
    ("that's not Bo", True, Kind.NOT_THIS, "that's not Bo"),
    ("is Bo in this?", True, Kind.RECOGNISE, "is Bo in this?"),
    ("Are Bo and Mắm here?", True, Kind.RECOGNISE, "Are Bo and Mắm here?"),
    ("is Bo next to Kiwi?", True, Kind.RECOGNISE, "is Bo next to Kiwi?"),
    ("are Bo and Kiwi together?", True, Kind.RECOGNISE, "are Bo and Kiwi together?"),
    ("is Bo next to Kiwi?", False, Kind.ASK, "is Bo next to Kiwi?"),
    ("who is in this photo?", True, Kind.WHO, "who is in this photo?"),
    ("", True, Kind.WHO, ""),
    ("what is Bo doing?", True, Kind.ASK, "what is Bo doing?"),
    ("draw Bo on a beach", False, Kind.DRAW, "Bo on a beach"),
    ("remember that Bo's birthday is 3 May", False, Kind.REMEMBER, "Bo's birthday is 3 May"),
    ("what should I buy Bo for his birthday?", False, Kind.ASK, "what should I buy Bo for his birthday?"),
    ("done", False, Kind.DONE, ""),
    ("this is Bo", False, Kind.ASK, "this is Bo"),
])
def test_parse(text: str, photo: bool, kind: Kind, argument: str) -> None:
    intent = parse(text, has_photo=photo)
    assert (intent.kind, intent.argument) == (kind, argument)


def test_ask_reads_its_words_as_a_message() -> None:
    assert parse("/ask is Bo in this?", has_photo=True).kind is Kind.RECOGNISE
    assert parse("/ask what does Bo like?", has_photo=False) == parse("what does Bo like?", has_photo=False)
    assert parse("/ask", has_photo=False).kind is Kind.ASK


def test_aliases_and_admin_words() -> None:
    assert parse("/list", has_photo=False).kind is Kind.CONCEPTS
    assert parse("/block telegram:42", has_photo=False) == Intent(Kind.BLOCK, "telegram:42", command="block")
    assert "status" not in COMMAND_WORDS, "admins' command words stay free as concepts' names"


def test_a_typed_intent_carries_its_values_and_its_words() -> None:
    rename = Intent.of_command(BY_WORD["rename"], {"name": "Bo", "new": "Bobby"})
    assert (rename.kind, rename.argument, rename.values) == (Kind.RENAME, "Bo Bobby", {"name": "Bo", "new": "Bobby"})
    draw = Intent.of_command(BY_WORD["draw"], {"text": "Bo", "count": 2, "seed": None})
    assert (draw.argument, draw.values) == ("Bo", {"text": "Bo", "count": 2})


def test_the_words_of_draw_give_its_values() -> None:
    assert parse("/draw 3 pictures of Bo on a beach seed 7", has_photo=False).values == \
        {"text": "Bo on a beach", "count": 3, "seed": 7}
    assert parse("draw Bo", has_photo=False).values == {"text": "Bo", "count": 1}
    assert parse("/draw", has_photo=False).values == {"text": "", "count": 1}
