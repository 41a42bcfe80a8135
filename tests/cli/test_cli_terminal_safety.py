"""Names from a project (classes, paths, backbones in a model file) can carry terminal escape sequences: the
human output of every command shows them escaped, never raw."""

from __future__ import annotations

import json
import unicodedata
from pathlib import Path
from types import SimpleNamespace

from hypothesis import given, settings
from hypothesis import strategies as st

from desktop.cli import main
from desktop.cli.model_commands import models_text
from desktop.cli.predict_commands import suggestions_text
from desktop.cli.project_commands import status_text
from desktop.cli.quality_commands import duplicates_text, label_issues_text
from desktop.cli.training_commands import summary_text
from desktop.core.status import ProjectStatus
from desktop.core.training_types import TrainingSummary

# Arbitrary text, with the characters that matter here made frequent: ESC, BEL, CSI (C1), DEL, CR, NUL.
names = st.text(st.one_of(st.characters(), st.sampled_from("\x1b\x07\x9b\x7f\r\n\x00\x08")), min_size=1)


def raw_controls(text: str) -> list[str]:
    """Control characters a terminal would act on (newlines and tabs are the output's own layout)."""
    return [ch for ch in text if unicodedata.category(ch) == "Cc" and ch not in "\n\t"]


@settings(max_examples=60, deadline=None)
@given(first=names, second=names)
def test_status_and_train_output_has_no_raw_control_characters(first: str, second: str) -> None:
    status = ProjectStatus(images=3, labelled=2, unlabelled=1, broken=1, missing=0, classes={first: 1, second: 1},
                           broken_files=[{"path": f"/photos/{second}.jpg", "reason": first}])
    assert raw_controls(status_text(status)) == []
    scores = {"precision": 0.5, "recall": 1.0, "f1": 0.667, "support": 2}
    summary = TrainingSummary(model_id=1, backbone=first, mode="frozen", device=second, classes=[first, second],
                              train_images=4, val_images=2, val_accuracy=0.5,
                              per_class={first: scores, second: scores}, confusion=[[1, 0], [1, 0]], seconds=1.0)
    assert raw_controls(summary_text(summary)) == []


@settings(max_examples=60, deadline=None)
@given(first=names, second=names)
def test_the_other_commands_output_has_no_raw_control_characters(first: str, second: str) -> None:
    suggestions = [{"path": f"/p/{first}.jpg", "predicted": second, "confidence": 0.5, "margin": 0.1,
                    "entropy": 0.7}]
    assert raw_controls(suggestions_text(suggestions, "entropy")) == []
    issue = SimpleNamespace(score=0.9, label=first, suggested=second, path=Path("/p") / f"{second}.jpg")
    assert raw_controls(label_issues_text([issue])) == []
    group = SimpleNamespace(similarity=0.99, straddles_split=True, paths=[Path(first), Path("/p") / second])
    assert raw_controls(duplicates_text([group])) == []
    row = {"model_id": 1, "created": "2026-01-01T00:00:00", "backbone": first, "mode": second, "train_images": 3,
           "val_accuracy": 0.5, "current_val_accuracy": 0.5}
    assert raw_controls(models_text([row], active=1)) == []


def test_a_class_name_that_would_clear_the_screen(project, photo_folder, capsys) -> None:
    """End to end: the name is stored as given, shown escaped, and --json keeps it exactly."""
    from desktop.core.classes import add_class

    evil = "red\x1b[2J\x1b]0;owned\x07\x9b31m"
    add_class(project, evil)
    assert main(["status", str(project.path)]) == 0
    out = capsys.readouterr().out
    assert raw_controls(out) == [] and "red\\x1b[2J\\x1b]0;owned\\x07\\x9b31m 0" in out
    assert main(["status", str(project.path), "--json"]) == 0
    out = capsys.readouterr().out
    assert raw_controls(out) == []  # JSON escapes even DEL and C1, which json.dumps leaves alone
    assert evil in json.loads(out)["classes"]
