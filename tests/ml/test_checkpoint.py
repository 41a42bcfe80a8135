"""Model files: round trip, atomic writes, refusal of hostile or foreign files."""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch

import desktop
from desktop.ml import checkpoint as checkpoint_module
from desktop.ml.checkpoint import (
    FORMAT_VERSION,
    CheckpointError,
    checkpoint_bytes,
    load_checkpoint,
    new_checkpoint,
    save_checkpoint,
    training_options,
)
from desktop.ml.options import TrainingOptions


def _checkpoint(**overrides) -> dict:
    fields = {
        "backbone": "efficientnet_lite0",
        "weights": {"source": "bundled", "file": "x.pth", "identity": "blake2b:" + "ab" * 16},
        "class_names": ["cats", "dogs"], "input_size": 224, "resize_size": 256, "interpolation": "bicubic",
        "mean": [0.5, 0.5, 0.5], "std": [0.5, 0.5, 0.5],
        "head": {"in_features": 4, "num_classes": 2, "dropout": 0.2}, "mode": "frozen", "feature_key": None,
        "state_dict": {"head.linear.weight": np.random.default_rng(0).standard_normal((2, 4), np.float32),
                       "head.linear.bias": np.zeros(2, np.float32)},
        "metrics": {"accuracy": 0.5, "confusion": [[1, 0], [1, 0]]}, "training": {"epochs": 3, "lr": 1e-3},
    }
    return new_checkpoint(**{**fields, **overrides})


def _torch_save(checkpoint: dict, path: Path) -> None:
    """Write with torch.save itself, the weights as tensors: the files older Pigeonholes (and other tools) wrote."""
    weights = {key: torch.from_numpy(value) if isinstance(value, np.ndarray) else value
               for key, value in checkpoint.get("state_dict", {}).items()}
    torch.save({**checkpoint, "state_dict": weights} if "state_dict" in checkpoint else checkpoint, path)


def test_round_trip_keeps_every_field(tmp_path: Path) -> None:
    checkpoint = _checkpoint()
    path = tmp_path / "model.pigeonhole-model"
    save_checkpoint(path, checkpoint)
    loaded = load_checkpoint(path)
    assert loaded["format_version"] == FORMAT_VERSION
    assert loaded["app_version"] == desktop.__version__
    assert loaded["class_names"] == ["cats", "dogs"]
    assert loaded["metrics"] == checkpoint["metrics"]
    assert np.array_equal(loaded["state_dict"]["head.linear.weight"], checkpoint["state_dict"]["head.linear.weight"])
    assert loaded["state_dict"]["head.linear.weight"].dtype == np.float32
    assert load_checkpoint(checkpoint_bytes(checkpoint))["created"] == checkpoint["created"]
    assert [p.name for p in tmp_path.iterdir()] == ["model.pigeonhole-model"], "no temporary file left behind"



def test_training_options_are_read_from_new_and_older_files(tmp_path: Path) -> None:
    """Today's files keep TrainingOptions.as_dict(); older ones kept TrainConfig's fields ("lr"), still read."""
    ran = TrainingOptions(mode="frozen", epochs=4, learning_rate=0.01, seed=7).resolved("frozen", "cpu")
    path = tmp_path / "model.pt"
    save_checkpoint(path, _checkpoint(training={"options": ran.as_dict()}))
    assert training_options(load_checkpoint(path)) == ran
    older = _checkpoint(training={"config": {"mode": "auto", "epochs": 3, "lr": 1e-3, "batch_size": 16,
                                             "settings_no_longer_kept": 1}})
    assert training_options(older) == TrainingOptions(mode="auto", epochs=3, learning_rate=1e-3, batch_size=16)
    assert training_options(_checkpoint()) is None  # the oldest: no options recorded


def test_a_failed_save_leaves_the_previous_file_intact(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "model.pt"
    save_checkpoint(path, _checkpoint(class_names=["old", "names"]))

    def crash(obj, handle, *args, **kwargs):
        handle.write(b"half a file")
        raise OSError("disk full")

    monkeypatch.setattr(checkpoint_module.torch_zip, "dump", crash)
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
    _torch_save(checkpoint, path)
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


def test_weights_are_numpy_arrays_of_numbers(tmp_path: Path) -> None:
    """A checkpoint holds arrays, not tensors, and never arrays of Python objects (those would pickle code)."""
    with pytest.raises(CheckpointError, match="not a plain dictionary of tensors"):
        _checkpoint(state_dict={"head.linear.weight": torch.randn(2, 4), "head.linear.bias": torch.zeros(2)})
    with pytest.raises(CheckpointError, match="Tensor; only plain types"):
        _checkpoint(training={"padding": torch.zeros(2)})
    objects = np.empty((2, 4), dtype=object)
    objects[:] = 1.0
    with pytest.raises(CheckpointError, match=r"“head\.linear\.weight” is not a plain dense tensor"):
        _checkpoint(state_dict={"head.linear.weight": objects, "head.linear.bias": np.zeros(2, np.float32)})
    with pytest.raises(CheckpointError, match="only numbers and booleans"):
        _checkpoint(training={"notes": np.array(["a", "b"])})


def test_files_torch_wrote_are_read_as_arrays(tmp_path: Path) -> None:
    """Model files of format 1 were written by torch.save with tensors: they load, their weights as arrays."""
    checkpoint = _checkpoint()
    path = tmp_path / "older.pt"
    _torch_save({**checkpoint, "format_version": 1}, path)
    loaded = load_checkpoint(path)
    assert loaded["format_version"] == 1
    assert isinstance(loaded["state_dict"]["head.linear.weight"], np.ndarray)
    assert np.array_equal(loaded["state_dict"]["head.linear.weight"], checkpoint["state_dict"]["head.linear.weight"])


# --- hostile files: every one is refused with one sentence, before anything large is unpacked ------------------

def _raw(**overrides) -> dict:
    """A checkpoint dict that skipped validation (as a hostile file would), with ``overrides`` merged in."""
    fields = _checkpoint()
    for key, value in overrides.items():
        if "." in key:
            outer, inner = key.split(".")
            fields[outer] = {**fields[outer], inner: value}
        else:
            fields[key] = value
    return fields


def _rewrite_archive(path: Path, replace=lambda name, data: data, compression=zipfile.ZIP_STORED) -> None:
    """Rewrite a torch.save zip entry by entry, as someone crafting a file could."""
    with zipfile.ZipFile(path) as archive:
        entries = [(info.filename, archive.read(info.filename)) for info in archive.infolist()]
    with zipfile.ZipFile(path, "w", compression) as archive:
        for name, data in entries:
            archive.writestr(name, replace(name, data))


@pytest.mark.parametrize("overrides, field", [
    ({"mean": ["0.5", "0.5", "0.5"]}, "“mean”"),
    ({"mean": [0.5, float("nan"), 0.5]}, "“mean”"),
    ({"std": [0.5, 0.0, 0.5]}, "“std”"),
    ({"interpolation": "lanczos"}, "“interpolation”"),
    ({"input_size": True}, "“input_size”"),
    ({"input_size": 10**9}, "“input_size”"),
    ({"resize_size": 100}, "“resize_size”"),
    ({"class_names": [1, 2]}, "“class_names”"),
    ({"class_names": ["cats", ""]}, "“class_names”"),
    ({"class_names": ["cats", "dogs", "birds"]}, "output size"),
    ({"mode": "evil"}, "“mode”"),
    ({"head.dropout": "0.1"}, "“head.dropout”"),
    ({"head.in_features": -4}, "“head.in_features”"),
    ({"state_dict": {"head.linear.weight": torch.randn(2, 5), "head.linear.bias": torch.zeros(2)}},
     "“head.linear.weight”"),
    ({"state_dict": {"head.linear.weight": torch.randn(2, 4)}}, "“head.linear.bias”"),
    ({"feature_key": "../../../home/someone/.config"}, "“feature_key”"),
    ({"weights.identity": "../escape"}, "“weights.identity”"),
    ({"weights.file": "/etc/passwd"}, "“weights.file”"),
    ({"metrics": ["not", "a", "dict"]}, "“metrics”"),
])
def test_every_field_is_checked_and_named(tmp_path: Path, overrides: dict, field: str) -> None:
    path = tmp_path / "model.pt"
    _torch_save(_raw(**overrides), path)
    with pytest.raises(CheckpointError, match=field) as caught:
        load_checkpoint(path)
    assert "\n" not in str(caught.value)


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_a_sparse_tensor_is_refused(tmp_path: Path) -> None:
    sparse = torch.sparse_coo_tensor(torch.tensor([[0, 1], [0, 3]]), torch.ones(2), (2, 4))
    path = tmp_path / "model.pt"
    _torch_save(_raw(state_dict={"head.linear.weight": sparse, "head.linear.bias": torch.zeros(2)}), path)
    with pytest.raises(CheckpointError, match="not a plain dense tensor"):
        load_checkpoint(path)


def test_a_zip_bomb_is_refused_before_it_is_unpacked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """torch.save stores tensors uncompressed; the same archive deflated is tiny yet unpacks to its full size."""
    path = tmp_path / "bomb.pt"
    _torch_save(_raw(training={"padding": torch.zeros(1 << 20)}), path)  # 4 MB of zeros
    _rewrite_archive(path, compression=zipfile.ZIP_DEFLATED)
    assert path.stat().st_size < 100_000
    assert load_checkpoint(path)["training"]["padding"].size == 1 << 20  # the reader would unpack it
    monkeypatch.setattr(checkpoint_module, "MAX_UNPACKED_BYTES", 1 << 21)  # a 2 MB cap stands in for 1 GB
    with pytest.raises(CheckpointError, match="zip bomb"):
        load_checkpoint(path)


def test_a_file_above_the_size_cap_is_not_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "model.pt"
    save_checkpoint(path, _checkpoint())
    monkeypatch.setattr(checkpoint_module, "MAX_FILE_BYTES", path.stat().st_size - 1)
    with pytest.raises(CheckpointError, match=r"model\.pt: refused: the file is .* above the .* limit"):
        load_checkpoint(path)
    with pytest.raises(CheckpointError, match="larger than any Pigeonhole model"):
        load_checkpoint(path.read_bytes())


@pytest.mark.filterwarnings("ignore:.*torch.jit.*:FutureWarning")
def test_a_torchscript_program_is_refused_as_a_checkpoint(tmp_path: Path) -> None:
    path = tmp_path / "program.pt"
    torch.jit.save(torch.jit.script(torch.nn.Softmax(1)), str(path))
    with pytest.raises(CheckpointError, match="TorchScript program"):
        load_checkpoint(path)


@pytest.mark.parametrize("shape", ["nested 100,000 deep", "a list that holds itself"])
def test_deeply_nested_or_cyclic_contents_are_one_sentence(tmp_path: Path, shape: str) -> None:
    path = tmp_path / "deep.pt"
    if shape == "a list that holds itself":
        loop: list = []
        loop.append(loop)
        _torch_save(_raw(training={"history": loop}), path)
    else:
        marker = "DEEP-MARKER"
        _torch_save(_raw(training={"history": marker}), path)
        depth = 100_000
        # The pickled string (BINUNICODE) becomes 100,000 empty lists each appended into the one below.
        pickled = b"X" + len(marker).to_bytes(4, "little") + marker.encode()
        nested = b"]" * depth + b"a" * (depth - 1)

        def deepen(name: str, data: bytes) -> bytes:
            if not name.endswith("data.pkl"):
                return data
            assert data.count(pickled) == 1
            return data.replace(pickled, nested)

        _rewrite_archive(path, deepen)
    with pytest.raises(CheckpointError, match="nested too deeply"):
        load_checkpoint(path)
