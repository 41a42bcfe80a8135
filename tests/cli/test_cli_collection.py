"""`similar` and `check` on the command line: the --json shapes, human output and one-sentence errors."""

from __future__ import annotations

import json
import shutil

import cv2
import numpy as np

from desktop.cli import main


def test_similar_and_check_json_shapes(trained_project, capsys):
    photos = trained_project.path.parent / "photos"
    original = photos / "discs" / "discs_01.jpg"
    shutil.copy(original, photos / "discs" / "again_01.jpg")
    cv2.imwrite(str(photos / "discs" / "black.png"), np.zeros((96, 96, 3), np.uint8))
    project = str(trained_project.path)
    assert main(["import", project, str(photos), "--labels-from-subfolders", "--json"]) == 0
    capsys.readouterr()

    assert main(["similar", project, str(original), "--n", "3", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["image"]["path"] == str(original) and isinstance(result["image"]["id"], int)
    assert len(result["similar"]) == 3 and set(result["similar"][0]) == {"id", "path", "score"}
    assert result["similar"][0]["path"].endswith("again_01.jpg") and result["similar"][0]["score"] == 1.0

    assert main(["similar", project, str(result["image"]["id"]), "--n", "2"]) == 0
    text = capsys.readouterr().out
    assert text.startswith("Most like ") and "again_01.jpg" in text

    assert main(["check", project, "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert set(report) == {"photos_checked", "dismissed", "notes", "findings"}
    kinds = {f["kind"] for f in report["findings"]}
    assert {"exact_duplicates", "dark"} <= kinds
    exact = next(f for f in report["findings"] if f["kind"] == "exact_duplicates")
    assert set(exact) == {"kind", "title", "summary", "keeper_id", "keeper_rule", "photos"}
    assert exact["keeper_rule"] == "oldest" and set(exact["photos"][0]) == {"id", "path", "reason"}

    assert main(["check", project, "--dismiss", "dark", str(photos / "discs" / "black.png")]) == 0
    assert "will not be flagged again" in capsys.readouterr().out
    assert main(["check", project]) == 0
    text = capsys.readouterr().out
    assert text.startswith("Checked 26 photos: ") and "1 dismissed" in text and "Too dark" not in text
    assert "(s)" not in text  # "2 findings", never "2 finding(s)"


def test_similar_and_check_errors_are_one_sentence(trained_project, capsys):
    project = str(trained_project.path)
    assert main(["similar", project, "/nowhere/photo.jpg"]) == 1
    error = capsys.readouterr().err
    assert error.startswith("pigeonhole: error: ") and error.count("\n") == 1 and "not a photo of the project" in error
    assert main(["check", project, "--dismiss", "blury", "1"]) == 1
    error = capsys.readouterr().err
    assert "no check called 'blury'" in error and error.count("\n") == 1
