"""German translations of seek commands from a small grammar with real agreement (numpy-free).

Every English command of :data:`~edge_sdk.demo.seek.world.COMMAND_TEMPLATES` has a German frame
with its own verb, case and word order, so a translator must learn gender, case and order rather
than copy words:

=============================  ===================================  ===========================
English                        German                               what it exercises
=============================  ===================================  ===========================
find the red circle            finde den roten kreis                accusative, weak ending
where is the red circle        wo ist der rote kreis                nominative
go to the red circle           fahre zum roten kreis                dative, zu + dem -> zum
seek red circle                roten kreis suchen                   no article: strong ending,
                                                                    verb last
look for the red circle        halte nach dem roten kreis ausschau  dative, separable verb
locate the red circle          orte den roten kreis                 accusative
=============================  ===================================  ===========================

Nouns keep their gender (der kreis, das quadrat, das dreieck), so "find the red square" is
"finde das rote quadrat" and "seek red square" is "rotes quadrat suchen". A size ("small",
"large") and a zone ("on the left", "in the centre", "on the right", the captions' words) may be
added; the zone's noun is feminine (auf der linken seite, in der mitte), so the dative feminine
paradigm is exercised too. The seek world has no feminine shape.

Text is lower-case, words separated by single spaces, umlauts and ß kept (``grün``, ``groß``),
in Unicode NFC form: the shared tokenizer's word pattern (:func:`edge_sdk.preprocess.text.split_words`)
keeps NFC umlauts inside one word but would split a decomposed ``u`` + combining diaeresis.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from edge_sdk.demo.seek.captions import SIZES, ZONE_WORDS, ZONES
from edge_sdk.demo.seek.world import COLORS, COMMAND_TEMPLATES, SHAPES

__all__ = [
    "ADJECTIVES",
    "NOUNS",
    "Command",
    "adjective",
    "all_commands",
    "noun_phrase",
    "translate",
]

Gender = Literal["m", "f", "n"]
Case = Literal["nom", "acc", "dat"]
Article = Literal["definite", "none"]

NOUNS: dict[str, tuple[str, Gender]] = {"circle": ("kreis", "m"), "square": ("quadrat", "n"), "triangle": ("dreieck", "n")}
ADJECTIVES: dict[str, str] = {  # stems; endings come from the declension tables below
    "red": "rot", "green": "grün", "blue": "blau", "yellow": "gelb", "small": "klein", "large": "groß",
    "left": "link", "right": "recht",
}
_DEFINITE = {
    ("nom", "m"): "der", ("nom", "n"): "das", ("nom", "f"): "die",
    ("acc", "m"): "den", ("acc", "n"): "das", ("acc", "f"): "die",
    ("dat", "m"): "dem", ("dat", "n"): "dem", ("dat", "f"): "der",
}
# Adjective endings after the definite article (weak) and without any article (strong), singular.
_WEAK = {("nom", "m"): "e", ("nom", "n"): "e", ("nom", "f"): "e", ("acc", "m"): "en", ("acc", "n"): "e",
         ("acc", "f"): "e", ("dat", "m"): "en", ("dat", "n"): "en", ("dat", "f"): "en"}
_STRONG = {("nom", "m"): "er", ("nom", "n"): "es", ("nom", "f"): "e", ("acc", "m"): "en", ("acc", "n"): "es",
           ("acc", "f"): "e", ("dat", "m"): "em", ("dat", "n"): "em", ("dat", "f"): "er"}
# Per template: (words before the noun phrase, case, article, words after); "zu" contracts with the article.
_FRAMES: tuple[tuple[str, Case, Article, str], ...] = (
    ("finde", "acc", "definite", ""),
    ("wo ist", "nom", "definite", ""),
    ("fahre zu", "dat", "definite", ""),
    ("", "acc", "none", "suchen"),
    ("halte nach", "dat", "definite", "ausschau"),
    ("orte", "acc", "definite", ""),
)
_CONTRACTIONS = {"zu dem": "zum", "zu der": "zur"}


def adjective(stem: str, case: Case, gender: Gender, article: Article) -> str:
    """The declined adjective: ``adjective("rot", "acc", "m", "definite") == "roten"``."""
    table = _WEAK if article == "definite" else _STRONG
    return stem + table[(case, gender)]


def noun_phrase(noun: str, gender: Gender, case: Case, article: Article, adjective_stems: tuple[str, ...] = ()) -> str:
    """Article (if any), declined adjectives and the noun, e.g. ``den kleinen roten kreis``."""
    words = [_DEFINITE[(case, gender)]] if article == "definite" else []
    words += [adjective(stem, case, gender, article) for stem in adjective_stems]
    return " ".join([*words, noun])


def _zone_phrase(zone: str) -> str:
    if zone == "center":
        return "in " + noun_phrase("mitte", "f", "dat", "definite")
    return "auf " + noun_phrase("seite", "f", "dat", "definite", (ADJECTIVES[zone],))


@dataclass(frozen=True)
class Command:
    """One seek command, structured: renders to English and German from the same facts.

    Without ``size`` and ``zone``, :attr:`english` is exactly the world's
    :func:`~edge_sdk.demo.seek.world.command_text` for that template.
    """

    color: str
    shape: str
    template: int = 0
    size: str | None = None
    zone: str | None = None

    def __post_init__(self) -> None:
        for name, value, allowed in (("color", self.color, tuple(COLORS)), ("shape", self.shape, SHAPES),
                                     ("template", self.template, tuple(range(len(COMMAND_TEMPLATES))))):
            if value not in allowed:
                raise ValueError(f"command {name} must be one of {allowed}. Got: {value!r}")
        if self.size is not None and self.size not in SIZES:
            raise ValueError(f"command size must be one of {SIZES} or None. Got: {self.size!r}")
        if self.zone is not None and self.zone not in ZONES:
            raise ValueError(f"command zone must be one of {ZONES} or None. Got: {self.zone!r}")

    @property
    def english(self) -> str:
        color = self.color if self.size is None else f"{self.size} {self.color}"
        text = COMMAND_TEMPLATES[self.template].format(color=color, shape=self.shape)
        return text if self.zone is None else f"{text} {ZONE_WORDS[self.zone]}"

    @property
    def german(self) -> str:
        before, case, article, after = _FRAMES[self.template]
        noun, gender = NOUNS[self.shape]
        stems = tuple(ADJECTIVES[w] for w in (self.size, self.color) if w is not None)
        text = " ".join(w for w in (before, noun_phrase(noun, gender, case, article, stems)) if w)
        for full, short in _CONTRACTIONS.items():
            text = text.replace(full + " ", short + " ")
        if self.zone is not None:
            text += " " + _zone_phrase(self.zone)
        return f"{text} {after}" if after else text


def translate(color: str, shape: str, template: int = 0, size: str | None = None, zone: str | None = None) -> str:
    """The German of the command ``Command(color, shape, template, size, zone).english``."""
    return Command(color, shape, template, size, zone).german


def all_commands(with_details: bool = False) -> list[Command]:
    """Every template x colour x shape (and, ``with_details``, x size-or-none x zone-or-none)."""
    sizes: tuple[str | None, ...] = (None, *SIZES) if with_details else (None,)
    zones: tuple[str | None, ...] = (None, *ZONES) if with_details else (None,)
    return [Command(c, s, t, size, zone) for t in range(len(COMMAND_TEMPLATES)) for c in COLORS for s in SHAPES
            for size in sizes for zone in zones]
