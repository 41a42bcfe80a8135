"""Model files: round trip, atomic writes, refusal of hostile or foreign files."""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import desktop
from desktop.ml.checkpoint import (
    FORMAT_VERSION,
    CheckpointError,
    checkpoint_bytes,
    load_checkpoint,
    new_checkpoint,
    save_checkpoint,
)


def _checkpoint(**overrides) -> dict:
    fields = {
        "backbone": "efficientnet_lite0", "weights": {"source": "bundled", "file": "x.pth", "identity": "abc"},
        "class_names": ["cats", "dogs"], "input_size": 224, "resize_size": 256, "interpolation": "bicubic",
        "mean": [0.5, 0.5, 0.5], "std": [0.5, 0.5, 0.5],
        "head": {"in_features": 4, "num_classes": 2, "dropout": 0.2}, "mode": "frozen", "feature_key": None,
        "state_dict": {"head.linear.weight": torch.randn(2, 4), "head.linear.bias": torch.zeros(2)},
        "metrics": {"accuracy": 0.5, "confusion": [[1, 0], [1, 0]]}, "training": {"epochs": 3, "lr": 1e-3},
    }
    return new_checkpoint(**{**fields, **overrides})


def test_round_trip_keeps_every_field(tmp_path: Path) -> None:
    checkpoint = _checkpoint()
    path = tmp_path / "model.pigeonhole-model"
    save_checkpoint(path, checkpoint)
    loaded = load_checkpoint(path)
    assert loaded["format_version"] == FORMAT_VERSION
    assert loaded["app_version"] == desktop.__version__
    assert loaded["class_names"] == ["cats", "dogs"]
    assert loaded["metrics"] == checkpoint["metrics"]
    assert torch.equal(loaded["state_dict"]["head.linear.weight"], checkpoint["state_dict"]["head.linear.weight"])
    assert load_checkpoint(checkpoint_bytes(checkpoint))["created"] == checkpoint["created"]
    assert [p.name for p in tmp_path.iterdir()] == ["model.pigeonhole-model"], "no temporary file left behind"


def test_a_failed_save_leaves_the_previous_file_intact(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "model.pt"
    save_checkpoint(path, _checkpoint(class_names=["old", "names"]))

    def crash(obj, handle, *args, **kwargs):
        handle.write(b"half a file")
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", crash)
    with pytest.raises(OSError, match="disk full"):
        save_checkpoint(path, _checkpoint(class_names=["new", "names"]))
    monkeypatch.undo()
    assert load_checkpoint(path)["class_names"] == ["old", "names"]
    assert [p.name for p in tmp_path.iterdir()] == ["model.pt"]


class _Hostile:
    """Unpickling this runs a shell command that creates a marker file."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch '{self.marker}'",)


@pytest.mark.parametrize("container", ["torch.save", "plain pickle"])
def test_hostile_pickle_is_refused_without_running_code(tmp_path: Path, container: str) -> None:
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pt"
    payload = {"format_version": 1, "state_dict": {}, "class_names": _Hostile(marker)}
    if container == "torch.save":
        torch.save(payload, path)
    else:
        path.write_bytes(pickle.dumps(payload, protocol=2))
    with pytest.raises(CheckpointError, match="refused"):
        load_checkpoint(path)
    assert not marker.exists()
    # The payload is live: an unsafe load (in a child process) does run it. Without this the test proves nothing.
    code = f"import torch; torch.load({str(path)!r}, weights_only=False)"
    subprocess.run([sys.executable, "-c", code], capture_output=True, timeout=60)
    assert marker.exists()


def test_newer_format_is_refused_with_a_clear_message(tmp_path: Path) -> None:
    checkpoint = _checkpoint()
    checkpoint["format_version"] = FORMAT_VERSION + 1
    path = tmp_path / "future.pt"
    torch.save(checkpoint, path)
    with pytest.raises(CheckpointError, match="newer Pigeonhole"):
        load_checkpoint(path)


@pytest.mark.parametrize("content, message", [
    (b"", "damaged"),
    (b"not a model at all", "damaged"),
    ({"something": "else"}, "not a Pigeonhole model"),
    ({"format_version": 1, "class_names": ["a", "b"]}, "incomplete"),
])
def test_foreign_or_damaged_files_are_refused(tmp_path: Path, content, message: str) -> None:
    path = tmp_path / "file.pt"
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        torch.save(content, path)
    with pytest.raises(CheckpointError, match=message):
        load_checkpoint(path)


def test_truncated_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "model.pt"
    save_checkpoint(path, _checkpoint())
    path.write_bytes(path.read_bytes()[:200])
    with pytest.raises(CheckpointError, match="damaged"):
        load_checkpoint(path)


def test_missing_file_and_non_plain_values(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match="does not exist"):
        load_checkpoint(tmp_path / "nope.pt")
    with pytest.raises(CheckpointError, match="only plain types"):
        _checkpoint(training={"path": tmp_path})
    with pytest.raises(CheckpointError, match="output size"):
        _checkpoint(class_names=["a", "b", "c"])
