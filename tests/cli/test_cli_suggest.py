"""`pigeonhole suggest` prints a table a person can act on: a header, how torn the model is, its guess, and
the photo."""

from __future__ import annotations

import json

from desktop.cli import main
from desktop.cli.predict_commands import suggestions_text
from desktop.core.browse import ImageFilter, list_images
from desktop.core.labels import set_label


def test_suggest_prints_a_header_and_one_row_per_photo(trained_project, capsys) -> None:
    rows = list_images(trained_project, ImageFilter())[:4]
    set_label(trained_project, [row.id for row in rows], None)  # four photos to suggest, features cached
    assert main(["suggest", str(trained_project.path), "--n", "3"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "Label these next, least sure first (by margin):"
    assert lines[1].split() == ["margin", "confidence", "predicted", "photo"]
    assert len(lines) == 5
    assert main(["suggest", str(trained_project.path), "--n", "3", "--json"]) == 0
    images = json.loads(capsys.readouterr().out)["images"]
    for line, image in zip(lines[2:], images, strict=True):
        margin, confidence, predicted, path = line.split(maxsplit=3)
        assert (float(margin), predicted, path) == (round(image["margin"], 3), image["predicted"], image["path"])
        assert confidence == f"{image['confidence']:.1%}"


def test_suggestions_by_entropy_show_it_and_names_are_escaped() -> None:
    text = suggestions_text([{"path": "/p/a\x1b[2J.jpg", "predicted": "cats", "confidence": 0.51, "margin": 0.02,
                              "entropy": 0.693}], "entropy")
    header, row = text.splitlines()[1:]
    assert header.split() == ["margin", "confidence", "entropy", "predicted", "photo"]
    assert row.split() == ["0.020", "51.0%", "0.693", "cats", "/p/a\\x1b[2J.jpg"]


def test_nothing_to_suggest_says_so() -> None:
    assert suggestions_text([], "margin").startswith("Nothing to suggest")
