"""device.halving_batches, the one out-of-memory retry: a GPU that runs out of memory gets the same work again
with half the batch, down to one image; anything else (a CPU's error, another error, batches of one) is raised."""

from __future__ import annotations

import pytest
import torch

from desktop.ml.device import halving_batches

GPU = torch.device("cuda")  # only its type is read: no GPU is needed


def test_a_gpu_out_of_memory_halves_the_batch_until_it_fits() -> None:
    tried: list[int] = []
    halved: list[int] = []

    def attempt(batch_size: int) -> str:
        tried.append(batch_size)
        if batch_size > 4:
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return f"done with {batch_size}"

    assert halving_batches(attempt, 32, GPU, halved.append) == "done with 4"
    assert tried == [32, 16, 8, 4] and halved == [16, 8, 4]


def test_an_error_that_says_out_of_memory_counts_too() -> None:
    sizes: list[int] = []

    def attempt(batch_size: int) -> int:
        sizes.append(batch_size)
        if batch_size == 3:
            raise RuntimeError("CUDA error: out of memory")
        return batch_size

    assert halving_batches(attempt, 3, GPU, lambda _size: None) == 1 and sizes == [3, 1]


@pytest.mark.parametrize(("device", "error", "batch_size"), [
    (torch.device("cpu"), torch.OutOfMemoryError("out of memory"), 8),  # a CPU's memory is the machine's
    (GPU, ValueError("a broken photo"), 8),
    (GPU, torch.OutOfMemoryError("out of memory"), 1),  # nothing left to halve
])
def test_anything_else_is_raised_at_once(device: torch.device, error: Exception, batch_size: int) -> None:
    tried: list[int] = []

    def attempt(size: int) -> None:
        tried.append(size)
        raise error

    with pytest.raises(type(error)):
        halving_batches(attempt, batch_size, device, lambda _size: pytest.fail("halved"))
    assert tried == [batch_size]
