"""The CPU build's everyday workflow from the command line, torch unimportable: import with labels, train
(frozen), predict, sort and undo it, check the photos, review labels, find similar photos and duplicates, the
self-test; fine-tuning says it needs the full build. Runs as the CPU build in both test runs (``cpu_build``)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from desktop.cli import main
from desktop.core.self_test import write_pictures


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    code = main([str(arg) for arg in args])
    captured = capsys.readouterr()
    return code, captured.out + captured.err


def test_the_cpu_build_imports_trains_predicts_sorts_and_checks(cpu_build: Path, tmp_path: Path,
                                                               capsys: pytest.CaptureFixture[str]):
    labelled = write_pictures(tmp_path / "labelled", per_class=8)
    new = write_pictures(tmp_path / "new", per_class=4, seed=1)
    project = tmp_path / "photos.pigeonhole"
    assert run(capsys, "import", project, labelled, "--labels-from-subfolders")[0] == 0
    assert run(capsys, "import", project, new)[0] == 0

    code, out = run(capsys, "train", project, "--mode", "finetune")
    assert code != 0 and "Fine-tuning needs the full build" in out and "Traceback" not in out
    code, out = run(capsys, "train", project, "--nproc", "2")  # torchrun is PyTorch's
    assert code != 0 and "Running as several processes (--nproc) needs the full build" in out
    code, out = run(capsys, "train", project, "--json")
    assert code == 0, out
    trained = json.loads(out)
    assert trained["mode"] == "frozen" and trained["val_accuracy"] >= 0.9
    assert trained["predictions"]["predicted"] == 24  # train predicts every photo with the new model

    code, out = run(capsys, "predict", project, "--force", "--json")
    assert code == 0, out
    assert json.loads(out)["predicted"] == 24

    dest = tmp_path / "sorted"
    code, out = run(capsys, "sort", project, "--dest", dest, "--folder", new, "--json")
    assert code == 0, out
    sorted_files = sorted(p.relative_to(dest).as_posix() for p in dest.rglob("*.jpg"))
    assert len(sorted_files) == 8
    by_prediction = [name for name in sorted_files if not name.startswith("_unsure/")]
    assert by_prediction and all(name.split("/")[0] in name.split("/")[1] for name in by_prediction)
    code, out = run(capsys, "undo-sort", project)
    assert code == 0, out
    assert not list(dest.rglob("*.jpg"))

    for command in (("check", project), ("label-issues", project), ("duplicates", project),
                    ("similar", project, next((new / "discs").iterdir()))):
        code, out = run(capsys, *command)
        assert code == 0 and "Traceback" not in out, (command, out)
    assert sys.modules.get("torch") is None


def test_the_self_test_passes_in_the_cpu_build(cpu_build: Path, capsys: pytest.CaptureFixture[str]):
    code = main(["--self-test"])
    summary = json.loads(capsys.readouterr().out)
    assert code == 0 and summary["ok"], summary
    assert summary["build"] == "CPU" and summary["torch"] is None
