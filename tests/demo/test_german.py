"""German seek commands: every template x colour x shape, and agreement against hand-written sentences."""

from __future__ import annotations

import pytest

from edge_sdk.demo.seek.german import Command, adjective, all_commands, noun_phrase, translate
from edge_sdk.demo.seek.world import COLORS, COMMAND_TEMPLATES, SHAPES, command_text
from edge_sdk.preprocess.text import split_words


def test_every_template_colour_and_shape_translates_and_matches_the_worlds_english() -> None:
    commands = all_commands()
    assert len(commands) == len(COMMAND_TEMPLATES) * len(COLORS) * len(SHAPES)
    germans = {c.german for c in commands}
    assert len(germans) == len(commands)  # no two commands share a translation
    for c in commands:
        assert c.english == command_text(c.color, c.shape, c.template)
        assert c.german == " ".join(split_words(c.german))  # lower case, single spaces, tokenizer words
    assert len({c.german for c in all_commands(with_details=True)}) == len(commands) * 12


@pytest.mark.parametrize(("english", "args", "german"), [
    ("find the red circle", ("red", "circle", 0), "finde den roten kreis"),
    ("find the red square", ("red", "square", 0), "finde das rote quadrat"),
    ("find the green triangle", ("green", "triangle", 0), "finde das grüne dreieck"),
    ("where is the blue circle", ("blue", "circle", 1), "wo ist der blaue kreis"),
    ("where is the yellow square", ("yellow", "square", 1), "wo ist das gelbe quadrat"),
    ("go to the red circle", ("red", "circle", 2), "fahre zum roten kreis"),
    ("go to the green triangle", ("green", "triangle", 2), "fahre zum grünen dreieck"),
    ("seek red circle", ("red", "circle", 3), "roten kreis suchen"),
    ("seek blue square", ("blue", "square", 3), "blaues quadrat suchen"),
    ("look for the yellow circle", ("yellow", "circle", 4), "halte nach dem gelben kreis ausschau"),
    ("look for the red square", ("red", "square", 4), "halte nach dem roten quadrat ausschau"),
    ("locate the blue triangle", ("blue", "triangle", 5), "orte das blaue dreieck"),
    ("find the small red circle on the left", ("red", "circle", 0, "small", "left"),
     "finde den kleinen roten kreis auf der linken seite"),
    ("where is the large green square in the centre", ("green", "square", 1, "large", "center"),
     "wo ist das große grüne quadrat in der mitte"),
    ("seek large yellow square on the right", ("yellow", "square", 3, "large", "right"),
     "großes gelbes quadrat auf der rechten seite suchen"),
    ("look for the small blue triangle on the right", ("blue", "triangle", 4, "small", "right"),
     "halte nach dem kleinen blauen dreieck auf der rechten seite ausschau"),
    ("go to the large red circle on the left", ("red", "circle", 2, "large", "left"),
     "fahre zum großen roten kreis auf der linken seite"),
])
def test_hand_written_sentences(english: str, args: tuple, german: str) -> None:
    command = Command(*args)
    assert command.english == english
    assert command.german == german == translate(*args)


def test_declension_tables() -> None:
    weak = {(case, g): adjective("rot", case, g, "definite") for case in ("nom", "acc", "dat") for g in "mnf"}
    assert weak == {("nom", "m"): "rote", ("nom", "n"): "rote", ("nom", "f"): "rote",
                    ("acc", "m"): "roten", ("acc", "n"): "rote", ("acc", "f"): "rote",
                    ("dat", "m"): "roten", ("dat", "n"): "roten", ("dat", "f"): "roten"}
    assert [adjective("groß", "acc", g, "none") for g in "mnf"] == ["großen", "großes", "große"]
    assert noun_phrase("seite", "f", "acc", "definite", ("link",)) == "die linke seite"
    assert noun_phrase("seite", "f", "dat", "definite", ("link",)) == "der linken seite"


def test_bad_commands_are_named() -> None:
    with pytest.raises(ValueError, match=r"command color must be one of .*Got: 'purple'"):
        Command("purple", "circle")
    with pytest.raises(ValueError, match="command zone must be one of"):
        Command("red", "circle", 0, None, "top")
