import pytest

from bot.assistant.intents import Kind, parse


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
