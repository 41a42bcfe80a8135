"""torch.save's format without torch: numpy arrays in and out, and nothing in a file runs code or takes unbounded
memory (torch itself as the reference: tests/ml/test_torch_zip_compat.py)."""

from __future__ import annotations

import io
import os
import pickle
import zipfile
from pathlib import Path

import numpy as np
import pytest

from desktop.ml import checkpoint as checkpoint_module
from desktop.ml import torch_zip
from desktop.ml.checkpoint import CheckpointError, checkpoint_bytes, load_checkpoint, new_checkpoint, save_checkpoint

DTYPES = (np.float32, np.float64, np.float16, np.int64, np.int32, np.int16, np.int8, np.uint8, np.bool_)


def _entries(data: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return {info.filename: archive.read(info) for info in archive.infolist()}


def _archive(entries: dict[str, bytes], compression: int = zipfile.ZIP_STORED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression) as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def _with_pickle(pickled: bytes, storages: dict[str, bytes] | None = None) -> bytes:
    """A well-formed archive (records as the writer makes them) around a hand-made pickle."""
    entries = {name: data for name, data in _entries(torch_zip.dumps({})).items() if not name.endswith("data.pkl")}
    entries = {"archive/data.pkl": pickled, **entries}
    entries.update({f"archive/data/{key}": data for key, data in (storages or {}).items()})
    return _archive(entries)


def _tensor_pickle(storage: str, key: str, numel: int, offset: int, size: tuple, stride: tuple) -> bytes:
    """The opcodes torch.save writes for one tensor (see the module docstring), with any numbers in them."""
    def number(value: int) -> bytes:
        return pickle.INT + str(value).encode() + b"\n"

    def numbers(values: tuple) -> bytes:
        return pickle.MARK + b"".join(number(v) for v in values) + pickle.TUPLE

    return (b"\x80\x02" + b"ctorch._utils\n_rebuild_tensor_v2\n" + pickle.MARK
            + pickle.MARK + pickle.BINUNICODE + (7).to_bytes(4, "little") + b"storage"
            + b"ctorch\n" + storage.encode() + b"\n" + pickle.SHORT_BINUNICODE + bytes([len(key)]) + key.encode()
            + pickle.SHORT_BINUNICODE + b"\x03cpu" + number(numel) + pickle.TUPLE + pickle.BINPERSID
            + number(offset) + numbers(size) + numbers(stride) + pickle.NEWFALSE
            + b"ccollections\nOrderedDict\n" + pickle.EMPTY_TUPLE + pickle.REDUCE
            + pickle.TUPLE + pickle.REDUCE + pickle.STOP)


def test_plain_data_and_arrays_of_every_type_round_trip():
    rng = np.random.default_rng(0)
    arrays = {np.dtype(kind).name: (rng.standard_normal((3, 4)) * 50).astype(kind) for kind in DTYPES}
    shared = np.arange(6, dtype=np.float32)
    value = {
        **arrays, "scalar": np.array(2.5, np.float32), "empty": np.zeros((0, 3), np.int64),
        "transposed": np.arange(12, dtype=np.float32).reshape(3, 4).T, "every_other": np.arange(10)[::2],
        "big_endian": np.arange(4, dtype=">f4"), "shared": [shared, shared],
        "plain": {"none": None, "yes": True, "count": 3, "huge": 2**70, "ratio": 0.25, "name": "café",
                  "list": [1, 2.0, "x", [None]], "pair": (1, 2), 7: "an int key"},
        "numpy_scalars": [np.float64(0.5), np.int64(4), np.bool_(True)],
    }
    loaded = torch_zip.loads(torch_zip.dumps(value))
    for name in arrays:
        assert loaded[name].dtype == arrays[name].dtype and np.array_equal(loaded[name], arrays[name]), name
    assert loaded["scalar"].shape == () and loaded["scalar"] == 2.5
    assert loaded["empty"].shape == (0, 3) and loaded["empty"].dtype == np.int64
    assert np.array_equal(loaded["transposed"], value["transposed"])
    assert np.array_equal(loaded["every_other"], [0, 2, 4, 6, 8])
    assert loaded["big_endian"].dtype == np.float32 and loaded["big_endian"].tolist() == [0, 1, 2, 3]
    assert loaded["shared"][0] is loaded["shared"][1]  # one storage, one array, as torch would share it
    assert loaded["plain"] == value["plain"]
    assert loaded["numpy_scalars"] == [0.5, 4, True]
    assert [type(v) for v in loaded["numpy_scalars"]] == [float, int, bool]
    assert all(array.flags.writeable and array.flags.c_contiguous for array in arrays.values())


def test_the_archive_is_laid_out_as_torch_lays_it_out():
    data = torch_zip.dumps({"weight": np.ones(3, np.float32)})
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        infos = archive.infolist()
        assert [info.filename for info in infos] == [
            "archive/data.pkl", "archive/.format_version", "archive/.storage_alignment", "archive/byteorder",
            "archive/data/0", "archive/version"]
        assert all(info.compress_type == zipfile.ZIP_STORED for info in infos)
        assert archive.read("archive/byteorder") == b"little" and archive.read("archive/data/0") == \
            np.ones(3, "<f4").tobytes()
    for info in infos:  # each entry's data at a multiple of 64 bytes, so torch can map it in place
        assert (info.header_offset + 30 + len(info.filename) + len(info.extra)) % 64 == 0


def test_a_big_endian_archive_is_read(tmp_path: Path):
    entries = _entries(torch_zip.dumps({"weight": np.arange(3, dtype=np.int32)}))
    entries["archive/byteorder"] = b"big"
    entries["archive/data/0"] = np.arange(3, dtype=">i4").tobytes()
    assert torch_zip.loads(_archive(entries))["weight"].tolist() == [0, 1, 2]


def test_bfloat16_becomes_float32():
    values = np.array([1.5, -2.25, 3.0e38], np.float32)
    top_halves = (values.view(np.uint32) >> 16).astype("<u2").tobytes()
    data = _with_pickle(_tensor_pickle("BFloat16Storage", "0", 3, 0, (3,), (1,)), {"0": top_halves})
    loaded = torch_zip.loads(data)
    assert loaded.dtype == np.float32 and loaded[:2].tolist() == [1.5, -2.25]


def test_what_only_a_weights_file_holds_can_be_written():
    with pytest.raises(pickle.PicklingError, match="Path"):
        torch_zip.dumps({"where": Path("/tmp")})
    with pytest.raises(pickle.PicklingError, match="object"):
        torch_zip.dumps({"objects": np.array([None, 1], dtype=object)})
    with pytest.raises(pickle.PicklingError, match="complex"):
        torch_zip.dumps({"complex": np.zeros(2, np.complex64)})


class _Hostile:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch '{self.marker}'",)


@pytest.mark.parametrize("protocol", [2, 4])  # GLOBAL, and STACK_GLOBAL
def test_a_pickled_call_of_anything_else_is_refused_before_it_runs(tmp_path: Path, protocol: int):
    marker = tmp_path / "pwned"
    data = _with_pickle(pickle.dumps({"class_names": _Hostile(marker)}, protocol=protocol))
    with pytest.raises(pickle.UnpicklingError, match="GLOBAL"):
        torch_zip.loads(data)
    assert not marker.exists()
    pickle.loads(_entries(data)["archive/data.pkl"])  # the payload is live: an ordinary unpickler runs it
    assert marker.exists()


@pytest.mark.parametrize("opcodes", [
    b"\x80\x02}}X\x01\x00\x00\x00aX\x01\x00\x00\x00bsb.",  # BUILD: state other than a state dict's metadata
    b"\x80\x02]}X\t\x00\x00\x00_metadata}sb.",  # BUILD: a state dict's metadata on something else
    b"\x80\x02(S'os'\nS'system'\ni__builtin__\nobject\n.",  # INST
    b"\x80\x02\x82\x01.",  # EXT1: the copyreg registry
    b"\x80\x02]X\x01\x00\x00\x00a\x85R.",  # REDUCE of a list: only the tensor rebuild may be called
    b"\x80\x02X\x01\x00\x00\x00a]X\x01\x00\x00\x00bs.",  # SETITEM into a string
])
def test_opcodes_beyond_plain_data_are_refused(opcodes: bytes):
    with pytest.raises(pickle.UnpicklingError):
        torch_zip.loads(_with_pickle(opcodes))


def test_tensors_that_are_not_plain_arrays_are_refused_as_such():
    sparse = b"\x80\x02ctorch._utils\n_rebuild_sparse_tensor\n."
    with pytest.raises(torch_zip.UnsupportedTensor):
        torch_zip.loads(_with_pickle(sparse))
    with pytest.raises(torch_zip.UnsupportedTensor):
        torch_zip.loads(_with_pickle(_tensor_pickle("ComplexFloatStorage", "0", 1, 0, (1,), (1,))))


@pytest.mark.parametrize("numel, offset, size, stride, problem", [
    (4, 0, (5,), (1,), "past the end"),  # more elements than the storage has
    (4, 3, (2,), (1,), "past the end"),  # an offset that runs off it
    (4, 0, (2, 2), (2, 3), "past the end"),  # a stride that does
    (8, 0, (4,), (1,), "holds 16 bytes"),  # a storage claiming more than its entry holds
])
def test_tensors_that_reach_outside_their_storage_are_refused(numel, offset, size, stride, problem):
    data = _with_pickle(_tensor_pickle("FloatStorage", "0", numel, offset, size, stride),
                        {"0": np.zeros(4, "<f4").tobytes()})
    with pytest.raises(pickle.UnpicklingError, match=problem):
        torch_zip.loads(data)


def test_a_tensor_that_repeats_one_number_endlessly_is_refused_before_it_is_allocated():
    """Stride 0 over one float: a few bytes in the file, a terabyte in memory."""
    data = _with_pickle(_tensor_pickle("FloatStorage", "0", 1, 0, (1 << 20, 1 << 20), (0, 0)),
                        {"0": np.zeros(1, "<f4").tobytes()})
    with pytest.raises(torch_zip.TooLarge):
        torch_zip.loads(data, max_bytes=1 << 30)


# --- through checkpoint: the sentences a user reads -----------------------------------------------------------

def _checkpoint(**overrides) -> dict:
    fields = {
        "backbone": "efficientnet_lite0", "weights": {"source": "bundled", "file": "x.pth", "identity": None},
        "class_names": ["cats", "dogs"], "input_size": 224, "resize_size": 256, "interpolation": "bicubic",
        "mean": [0.5, 0.5, 0.5], "std": [0.5, 0.5, 0.5], "head": {"in_features": 4, "num_classes": 2},
        "mode": "frozen", "state_dict": {"head.linear.weight": np.ones((2, 4), np.float32),
                                         "head.linear.bias": np.zeros(2, np.float32)},
        "out_of_fold": {"probabilities": np.full((3, 2), 0.5, np.float32), "labels": np.array([0, 1, 1])},
    }
    return new_checkpoint(**{**fields, **overrides})


def test_a_checkpoint_is_saved_and_loaded_without_torch(tmp_path: Path):
    checkpoint = _checkpoint()
    path = tmp_path / "model.pt"
    save_checkpoint(path, checkpoint)
    loaded = load_checkpoint(path)
    assert loaded["class_names"] == ["cats", "dogs"] and loaded["format_version"] == checkpoint_module.FORMAT_VERSION
    assert np.array_equal(loaded["state_dict"]["head.linear.weight"], checkpoint["state_dict"]["head.linear.weight"])
    assert loaded["out_of_fold"]["labels"].tolist() == [0, 1, 1]
    assert load_checkpoint(checkpoint_bytes(checkpoint))["created"] == checkpoint["created"]


def test_a_hostile_checkpoint_is_one_sentence_and_runs_nothing(tmp_path: Path):
    marker = tmp_path / "pwned"
    data = _with_pickle(pickle.dumps({"format_version": 1, "class_names": _Hostile(marker)}, protocol=2))
    with pytest.raises(CheckpointError, match="contains Python objects other than model weights"):
        load_checkpoint(data)
    assert not marker.exists()


def test_a_checkpoint_that_would_unpack_too_far_is_refused(monkeypatch: pytest.MonkeyPatch):
    padded = checkpoint_bytes(_checkpoint(training={"padding": np.zeros(1 << 20, np.float32)}))  # 4 MB of zeros
    deflated = _archive(_entries(padded), zipfile.ZIP_DEFLATED)
    assert len(deflated) < 100_000
    monkeypatch.setattr(checkpoint_module, "MAX_UNPACKED_BYTES", 1 << 21)
    with pytest.raises(CheckpointError, match="zip bomb"):
        load_checkpoint(deflated)
    # Stated sizes can be small while the tensors are not: the reader keeps to the same budget.
    endless = _with_pickle(_tensor_pickle("FloatStorage", "0", 1, 0, (1 << 22,), (0,)),
                           {"0": np.zeros(1, "<f4").tobytes()})
    with pytest.raises(CheckpointError, match="too large to be a Pigeonhole model"):
        load_checkpoint(endless)
