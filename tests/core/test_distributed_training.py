"""`train` and `predict` with --nproc 2: two real processes under torchrun, joined by gloo on the CPU.

Each run starts torchrun and two Pigeonhole processes (a few seconds each), so the data are the shared trained
project (3 classes x 8 small pictures, its features cached) and the runs are few.
"""

from __future__ import annotations

import json
from pathlib import Path

import imagemakers
import numpy as np
import pytest

from desktop.cli import build_parser, main
from desktop.cli.launch import relaunch
from desktop.core.importer import import_folder
from desktop.core.models_registry import active_model, list_models
from desktop.core.predicting import predict_project
from desktop.core.project import Project
from desktop.core.training import train_project
from desktop.ml.checkpoint import load_checkpoint
from desktop.ml.options import TrainingOptions

HELPER = Path(__file__).with_name("distributed_crash_helper.py")


def _model_files(project: Project) -> list[Path]:
    return sorted(project.models_dir.glob("*.pt"))


def _run(capfd: pytest.CaptureFixture, argv: list[str]) -> tuple[int, str, str]:
    code = main(argv)
    out, err = capfd.readouterr()
    return code, out, err


def test_two_processes_train_the_model_one_process_trains(trained_project: Project,
                                                          capfd: pytest.CaptureFixture) -> None:
    one = train_project(trained_project, TrainingOptions(mode="frozen", epochs=15, seed=3))
    models_before, files_before = len(list_models(trained_project)), len(_model_files(trained_project))
    capfd.readouterr()

    code, out, err = _run(capfd, ["train", str(trained_project.path), "--mode", "frozen", "--epochs", "15",
                                  "--seed", "3", "--nproc", "2", "--json"])

    assert code == 0, err
    two = json.loads(out)  # rank 0 alone printed: exactly one JSON document
    assert two["classes"] == one.classes
    assert two["evaluation"] == "out-of-fold" and two["val_images"] == one.val_images
    assert abs(two["val_accuracy"] - one.val_accuracy) <= 0.05
    assert len(list_models(trained_project)) == models_before + 1
    assert len(_model_files(trained_project)) == files_before + 1
    assert active_model(trained_project).id == two["model_id"]
    assert "Traceback" not in err


def _state_dict_keys(checkpoint: dict) -> list[str]:
    return [key for value in checkpoint.values() if isinstance(value, dict)
            for key in value if isinstance(key, str)]


def test_two_processes_fine_tune_one_model_that_predicts(trained_project: Project,
                                                         capfd: pytest.CaptureFixture) -> None:
    """Fine-tuning is the DDP path (the backbone's gradients averaged across ranks): one epoch on tiny photos."""
    files_before = _model_files(trained_project)
    capfd.readouterr()

    code, out, err = _run(capfd, ["train", str(trained_project.path), "--mode", "finetune", "--epochs", "1",
                                  "--seed", "3", "--nproc", "2", "--json"])

    assert code == 0, err
    result = json.loads(out)
    # One epoch on tiny photos may not beat the linear head on validation, and then the head is kept: both
    # are right answers. What must hold is that the fine-tuning epoch ran (under DDP) and was recorded.
    assert result["mode"] in ("finetune", "frozen") and result["classes"] == ["checks", "discs", "stripes"]
    assert 0.0 <= result["val_accuracy"] <= 1.0 and result["val_images"] > 0
    added = sorted(set(_model_files(trained_project)) - set(files_before))
    assert len(added) == 1 and active_model(trained_project).id == result["model_id"]
    checkpoint = load_checkpoint(added[0])
    training = checkpoint["training"]
    assert training["options"]["mode"] == "finetune"
    assert [record["epoch"] for record in training["history"] if record["stage"] == "finetune"] == [1]
    # Rank 0 saved the plain module, not DDP's wrapper: no "module." prefix a later load would trip on.
    assert not [key for key in _state_dict_keys(checkpoint) if key.startswith("module.")]
    # `train` predicted every photo with it (under DDP too); again here in this process: the model loads and predicts
    assert predict_project(trained_project, force=True).predicted == 24
    assert "Traceback" not in err


def test_two_processes_predict_every_photo_exactly_once(trained_project: Project, tmp_path: Path,
                                                        capfd: pytest.CaptureFixture) -> None:
    new = imagemakers.write_shape_folders(tmp_path / "new", per_class=3, seed=7)
    import_folder(trained_project, new)
    capfd.readouterr()

    code, out, err = _run(capfd, ["predict", str(trained_project.path), "--nproc", "2", "--json"])

    assert code == 0, err
    result = json.loads(out)
    paths = [image["path"] for image in result["images"]]
    assert result["predicted"] == len(paths) == 24 + 9 and len(set(paths)) == len(paths)
    # The 9 new photos' features were computed by one rank each: no photo twice in the feature cache.
    rows = [(content_hash, view) for shard in trained_project.cache_dir.rglob("shard-*.npz")
            for content_hash, view in zip(np.load(shard)["hashes"].tolist(), np.load(shard)["views"].tolist(),
                                          strict=True)]
    assert len(rows) == len(set(rows)) >= len(paths)
    assert predict_project(trained_project).predicted == 0  # a second (or resumed) run redoes nothing


def test_a_rank_killed_mid_run_fails_the_job_with_one_sentence(trained_project: Project,
                                                                capfd: pytest.CaptureFixture) -> None:
    before = active_model(trained_project)
    files = _model_files(trained_project)
    argv = ["train", str(trained_project.path), "--mode", "frozen", "--nproc", "2", "--json"]
    args = build_parser().parse_args(argv)
    args.argv = argv
    capfd.readouterr()

    code = relaunch(args, entry=[str(HELPER)])

    out, err = capfd.readouterr()
    assert code == 1
    assert out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("pigeonhole: error: ") and lines[0].endswith("."), err
    assert active_model(trained_project).id == before.id
    assert _model_files(trained_project) == files
    assert len(list_models(trained_project)) == 1

