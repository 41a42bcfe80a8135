"""torch_zip against torch itself: what torch.save writes reads as the same numbers, and what torch_zip writes
torch.load(weights_only=True) reads as the same tensors, for a real checkpoint from training too."""

from __future__ import annotations

import io
from collections import OrderedDict
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import Run

from desktop.ml import torch_zip
from desktop.ml.checkpoint import checkpoint_bytes, load_checkpoint
from desktop.ml.train_record import numpy_state

DTYPES = (torch.float32, torch.float64, torch.float16, torch.int64, torch.int32, torch.int16, torch.int8,
          torch.uint8, torch.bool)


def _saved(value) -> bytes:
    buffer = io.BytesIO()
    torch.save(value, buffer)
    return buffer.getvalue()


def _loaded(data: bytes, **kwargs):
    return torch.load(io.BytesIO(data), weights_only=True, **kwargs)


def test_what_torch_saves_reads_as_the_same_arrays():
    generator = torch.Generator().manual_seed(0)
    base = torch.randn(6, 8, generator=generator)
    tensors = {str(dtype): (torch.randn(3, 5, generator=generator) * 50).to(dtype) for dtype in DTYPES}
    views = {  # views of one storage: offsets, strides, a transpose, a column, every other row
        "base": base, "transposed": base.t(), "rows_2_to_4": base[2:5], "column": base[:, 3],
        "every_other": base[::2, 1::3], "expanded": base[0, :1].expand(4, 3), "scalar": base[1, 1],
        "empty": base[:0], "reshaped": base.reshape(4, 12)[1:],
    }
    saved = {**tensors, **views, "bf16": torch.tensor([1.5, -2.25, 1e30]).to(torch.bfloat16),
             "parameter": torch.nn.Parameter(torch.ones(2, 2)),
             "plain": OrderedDict(a=1, b=[2.5, "x", None], c=(True, 2**70))}
    loaded = torch_zip.loads(_saved(saved))
    for name, tensor in {**tensors, **views}.items():
        array = loaded[name]
        assert isinstance(array, np.ndarray) and array.shape == tuple(tensor.shape), name
        assert array.dtype == tensor.numpy().dtype and np.array_equal(array, tensor.numpy()), name
    assert loaded["bf16"].dtype == np.float32
    assert np.array_equal(loaded["bf16"], saved["bf16"].float().numpy())
    assert np.array_equal(loaded["parameter"], np.ones((2, 2), np.float32))
    assert loaded["plain"] == {"a": 1, "b": [2.5, "x", None], "c": (True, 2**70)}


def test_what_torch_zip_writes_torch_reads_as_the_same_tensors(tmp_path: Path):
    rng = np.random.default_rng(0)
    arrays = {np.dtype(kind).name: (rng.standard_normal((3, 5)) * 50).astype(kind)
              for kind in (np.float32, np.float64, np.float16, np.int64, np.int32, np.int16, np.int8, np.uint8,
                           np.bool_)}
    value = {**arrays, "transposed": arrays["float32"].T, "scalar": np.array(3.0, np.float64),
             "empty": np.zeros((0, 4), np.int64), "plain": {"n": None, "list": [1, "two", 3.0], 5: (True,)}}
    data = torch_zip.dumps(value)
    path = tmp_path / "written.pt"
    path.write_bytes(data)
    for loaded in (_loaded(data), torch.load(path, weights_only=True, mmap=True)):  # mmap: entries aligned
        for name, array in {**arrays, "transposed": value["transposed"], "scalar": value["scalar"],
                            "empty": value["empty"]}.items():
            tensor = loaded[name]
            assert isinstance(tensor, torch.Tensor) and tensor.numpy().dtype == array.dtype, name
            assert tensor.shape == array.shape and np.array_equal(tensor.numpy(), array), name
        assert loaded["plain"] == value["plain"]


def test_a_whole_state_dict_round_trips_both_ways():
    """BatchNorm's running statistics and int64 counter, conv weights: what a fine-tuned checkpoint holds."""
    model = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.BatchNorm2d(4), torch.nn.Flatten(),
                                torch.nn.LazyLinear(2))
    model(torch.randn(2, 3, 8, 8))
    state = model.state_dict()
    arrays = torch_zip.loads(_saved(state))
    assert arrays.keys() == state.keys()
    assert all(np.array_equal(arrays[key], value.numpy()) for key, value in state.items())
    assert arrays["1.num_batches_tracked"].dtype == np.int64
    tensors = _loaded(torch_zip.dumps(numpy_state(state)))
    assert all(torch.equal(tensors[key], value) for key, value in state.items())
    model.load_state_dict(tensors)  # strict: every key, every shape


def test_a_checkpoint_from_training_round_trips_through_torch(frozen_run: Run):
    checkpoint = frozen_run.result.checkpoint
    data = checkpoint_bytes(checkpoint)
    by_torch = _loaded(data)  # what torch.load(weights_only=True) makes of a Pigeonhole model file
    for key, array in checkpoint["state_dict"].items():
        assert torch.equal(by_torch["state_dict"][key], torch.from_numpy(array)), key
    assert torch.equal(by_torch["out_of_fold"]["probabilities"],
                       torch.from_numpy(checkpoint["out_of_fold"]["probabilities"]))
    assert repr(by_torch["metrics"]) == repr(checkpoint["metrics"])  # repr: NaN equals NaN
    assert repr(by_torch["training"]) == repr(checkpoint["training"])
    # And back: the file torch writes of it loads as the checkpoint it started as.
    again = load_checkpoint(_saved(by_torch))
    assert again.keys() == checkpoint.keys()
    for key, array in checkpoint["state_dict"].items():
        assert np.array_equal(again["state_dict"][key], array) and again["state_dict"][key].dtype == array.dtype
    assert np.array_equal(again["out_of_fold"]["labels"], checkpoint["out_of_fold"]["labels"])
    assert repr(again["calibration"]) == repr(checkpoint["calibration"])


@pytest.mark.filterwarnings("ignore:.*quantized tensor creation.*:UserWarning")
@pytest.mark.parametrize("dtype", [torch.complex64, torch.quint8])
def test_tensors_torch_can_save_but_a_model_never_holds_are_refused(dtype: torch.dtype):
    if dtype == torch.quint8:
        tensor = torch.quantize_per_tensor(torch.ones(3), 0.1, 0, dtype)
    else:
        tensor = torch.ones(3, dtype=dtype)
    with pytest.raises(torch_zip.UnsupportedTensor):
        torch_zip.loads(_saved({"weight": tensor}))
