"""Images from disk to batches: decoding in DataLoader worker processes (training, and inference on a GPU) or
a thread pool between forward passes (inference on a CPU); broken files skipped, not fatal.

A dataset item never raises: an unreadable image becomes a zero array plus an error message, and
``valid_batches`` drops it from the batch and records why. So one bad file among thousands costs a
line in the report instead of the whole training run.

torch is imported only where a DataLoader is made: the thread pool's batches are numpy arrays, which is all the
CPU build (no torch) ever uses; a DataLoader's are tensors.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from desktop.io.images import ImageError, load_rgb
from desktop.progress import CancelToken, check_cancel

if TYPE_CHECKING:
    import torch
    from torch.utils.data import DataLoader, Sampler

# image (an array or a tensor, as the transform makes it), label, index in the dataset, error ("" when fine)
Sample = tuple[Any, int, int, str]

# How decoding workers start; None is the platform default (fork on Linux, spawn on macOS and Windows).
# A GUI on Linux may set "forkserver": forking a process that runs Qt threads can inherit held locks.
# Everything a worker needs (datasets, transforms, seed_worker) is picklable, so every method works.
WORKER_START_METHOD: str | None = None


class ImageDataset:
    """Decoded, transformed images by position (a map-style dataset, as DataLoader and samplers take it)."""

    def __init__(self, paths: Sequence[str | Path], labels: Sequence[int] | None,
                 transform: Callable[[np.ndarray], Any], *, decode_size: int, sample_shape: Sequence[int],
                 indices: Sequence[int] | None = None) -> None:
        self.paths = [str(path) for path in paths]
        # What each sample reports as its index: its position, or the caller's numbering of a subset.
        self.indices = list(indices) if indices is not None else list(range(len(self.paths)))
        self.labels = list(labels) if labels is not None else [-1] * len(self.paths)
        self.transform = transform
        self.decode_size = decode_size  # shorter side to decode at least (large JPEGs decode faster)
        self.sample_shape = tuple(sample_shape)  # of the placeholder returned for an unreadable image

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, position: int) -> Sample:
        label, index = self.labels[position], self.indices[position]
        try:
            rgb = load_rgb(Path(self.paths[position]), min_short_side=self.decode_size)
            return self.transform(rgb), label, index, ""
        except ImageError as exc:
            error = str(exc)
        except Exception as exc:  # a decoder or transform bug on one odd file must not end the run
            error = f"could not be processed ({type(exc).__name__}: {exc})"
        # A placeholder shaped like a real sample, so the batch still collates; valid_batches drops it.
        return np.zeros(self.sample_shape, np.float32), label, index, error or "unreadable"


def default_num_workers() -> int:
    # One core stays with the network's forward pass, which is the bottleneck on a CPU.
    return max(1, min(4, (os.cpu_count() or 2) - 1))


def make_loader(dataset: ImageDataset, batch_size: int, *, shuffle: bool = False, num_workers: int | None = None,
                generator: torch.Generator | None = None, device: torch.device | None = None,
                persistent: bool = False, sampler: Sampler | None = None) -> DataLoader:
    """A DataLoader decoding in worker processes; ``persistent`` keeps them between epochs. ``sampler``: which
    samples, in which order (a distributed run's share; ``shuffle`` must then be False). Batches of tensors."""
    from torch.utils.data import DataLoader

    from desktop.ml.seed import seed_worker

    workers = default_num_workers() if num_workers is None else num_workers
    batches = math.ceil((len(sampler) if sampler is not None else len(dataset)) / batch_size)
    if batches <= 1 and not persistent:
        workers = 0  # starting a worker costs more than decoding one batch in this thread
    workers = min(workers, batches)
    return DataLoader(dataset, batch_size=batch_size, shuffle=shuffle, sampler=sampler, num_workers=workers,
                      collate_fn=tensor_collate, worker_init_fn=seed_worker, generator=generator,
                      pin_memory=device is not None and device.type == "cuda",
                      persistent_workers=persistent and workers > 0, prefetch_factor=2 if workers else None,
                      multiprocessing_context=WORKER_START_METHOD if workers else None)


def tensor_collate(samples: list[Sample]) -> tuple:
    """A DataLoader's batch: images stacked into a tensor (an unreadable image's array placeholder among tensors
    too), labels and indices int64 tensors, errors a list."""
    import torch
    from torch.utils.data import default_collate

    images = [torch.from_numpy(image) if isinstance(image, np.ndarray) else image for image, *_ in samples]
    return default_collate([(image, *rest) for image, (_, *rest) in zip(images, samples, strict=True)])


def numpy_collate(samples: list[Sample]) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[str]]:
    """The thread pool's batch, in numpy: images (N, ...) float32, labels and indices int64, errors a list."""
    images = np.stack([np.asarray(image, np.float32) for image, *_ in samples])
    labels = np.array([label for _, label, _, _ in samples], np.int64)
    indices = np.array([index for _, _, index, _ in samples], np.int64)
    return images, labels, indices, [error for *_, error in samples]


class ThreadedBatches:
    """Batches in order, each decoded by a pool of threads in this process while nothing else runs.

    For a forward pass on the CPU: the network already uses every core, so decoding workers running beside it
    only fight it for them (and PyTorch's threads wait for the slowest one). Decoding one batch on all cores,
    then running the network on all cores, costs what the two cost apart. OpenCV, Pillow's resize and the
    engines release the GIL. Batches of numpy arrays (``numpy_collate``).
    """

    def __init__(self, dataset: ImageDataset, batch_size: int, threads: int | None = None) -> None:
        self.dataset = dataset
        self.batch_size = batch_size
        self.threads = threads or os.cpu_count() or 1

    def __len__(self) -> int:
        return math.ceil(len(self.dataset) / self.batch_size)

    def __iter__(self) -> Iterator:
        size = len(self.dataset)
        with ThreadPoolExecutor(min(self.threads, max(1, size)), thread_name_prefix="decode") as pool:
            for start in range(0, size, self.batch_size):
                yield numpy_collate(list(pool.map(self.dataset.__getitem__,
                                                  range(start, min(size, start + self.batch_size)))))


def make_inference_batches(dataset: ImageDataset, batch_size: int, *, device: torch.device | None = None,
                           num_workers: int | None = None) -> Iterable:
    """Batches in order for a forward pass without gradients (features, predictions).

    On a CPU: ``ThreadedBatches`` (decode, then compute, each on every core; no worker processes to start).
    On a GPU the network does not need the CPU, so DataLoader workers decode the next batches meanwhile.
    ``device`` None is the CPU (the CPU build has no torch devices).
    """
    if device is None or device.type == "cpu":
        return ThreadedBatches(dataset, batch_size)
    return make_loader(dataset, batch_size, num_workers=num_workers, device=device)


def valid_batches(loader: Iterable, skipped: dict[int, str], cancel: CancelToken | None = None) -> Iterator[tuple]:
    """(images, labels, indices) with unreadable images removed and recorded in ``skipped`` (index → reason):
    numpy arrays from ``ThreadedBatches``, tensors from a DataLoader."""
    for images, labels, indices, errors in loader:
        check_cancel(cancel)
        ok = np.array([not error for error in errors], dtype=bool)
        if not ok.all():
            for index, error in zip(indices.tolist(), errors, strict=True):
                if error:
                    skipped[index] = error
        if ok.any():
            if not isinstance(images, np.ndarray):  # tensors: indexed by a tensor mask
                import torch

                ok = torch.from_numpy(ok)
            yield images[ok], labels[ok], indices[ok]
