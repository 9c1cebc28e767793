"""Generated docs stay in step with the code."""

from __future__ import annotations

from pathlib import Path

from edge_sdk.configdoc import render_reference

ROOT = Path(__file__).resolve().parents[1]


def test_config_reference_is_up_to_date() -> None:
    committed = (ROOT / "docs" / "config-reference.md").read_text()
    assert committed == render_reference(), "run: python -m edge_sdk.configdoc > docs/config-reference.md"


def test_readme_opens_with_the_two_commands() -> None:
    head = (ROOT / "README.md").read_text().split("\n## ")[0]
    assert "make demo" in head and "make test" in head


def test_wrap_spec_reference_is_up_to_date() -> None:
    from edge_sdk.bundle.specdoc import BEGIN, END, render_spec_reference

    text = (ROOT / "docs" / "bring-your-own-model.md").read_text()
    committed = text[text.index(BEGIN):text.index(END) + len(END)] + "\n"
    assert committed == render_spec_reference(), (
        "regenerate the reference in docs/bring-your-own-model.md: python -m edge_sdk.bundle.specdoc")
