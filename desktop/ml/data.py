"""Images from disk to batches: decoding in DataLoader worker processes (training, and inference on a GPU) or
a thread pool between forward passes (inference on a CPU); broken files skipped, not fatal.

A dataset item never raises: an unreadable image becomes a zero tensor plus an error message, and
``valid_batches`` drops it from the batch and records why. So one bad file among thousands costs a
line in the report instead of the whole training run.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Sampler, default_collate

from desktop.io.images import ImageError, load_rgb
from desktop.ml.progress import CancelToken, check_cancel
from desktop.ml.seed import seed_worker

Sample = tuple[torch.Tensor, int, int, str]  # image, label, index in the dataset, error ("" when fine)

# How decoding workers start; None is the platform default (fork on Linux, spawn on macOS and Windows).
# A GUI on Linux may set "forkserver": forking a process that runs Qt threads can inherit held locks.
# Everything a worker needs (datasets, transforms, seed_worker) is picklable, so every method works.
WORKER_START_METHOD: str | None = None


class ImageDataset(Dataset):
    def __init__(self, paths: Sequence[str | Path], labels: Sequence[int] | None,
                 transform: Callable[[np.ndarray], torch.Tensor], *, decode_size: int, sample_shape: Sequence[int],
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
        return torch.zeros(self.sample_shape), label, index, error or "unreadable"


def default_num_workers() -> int:
    # One core stays with the network's forward pass, which is the bottleneck on a CPU.
    return max(1, min(4, (os.cpu_count() or 2) - 1))


def make_loader(dataset: Dataset, batch_size: int, *, shuffle: bool = False, num_workers: int | None = None,
                generator: torch.Generator | None = None, device: torch.device | None = None,
                persistent: bool = False, sampler: Sampler | None = None) -> DataLoader:
    """A DataLoader decoding in worker processes; ``persistent`` keeps them between epochs. ``sampler``: which
    samples, in which order (a distributed run's share; ``shuffle`` must then be False)."""
    workers = default_num_workers() if num_workers is None else num_workers
    batches = math.ceil((len(sampler) if sampler is not None else len(dataset)) / batch_size)
    if batches <= 1 and not persistent:
        workers = 0  # starting a worker costs more than decoding one batch in this thread
    workers = min(workers, batches)
    return DataLoader(dataset, batch_size=batch_size, shuffle=shuffle, sampler=sampler, num_workers=workers,
                      worker_init_fn=seed_worker, generator=generator,
                      pin_memory=device is not None and device.type == "cuda",
                      persistent_workers=persistent and workers > 0, prefetch_factor=2 if workers else None,
                      multiprocessing_context=WORKER_START_METHOD if workers else None)


class ThreadedBatches:
    """Batches in order, each decoded by a pool of threads in this process while nothing else runs.

    For a forward pass on the CPU: the network already uses every core, so decoding workers running beside it
    only fight it for them (and PyTorch's threads wait for the slowest one). Decoding one batch on all cores,
    then running the network on all cores, costs what the two cost apart. OpenCV and PyTorch release the GIL.
    """

    def __init__(self, dataset: Dataset, batch_size: int, threads: int | None = None) -> None:
        self.dataset = dataset
        self.batch_size = batch_size
        self.threads = threads or os.cpu_count() or 1

    def __len__(self) -> int:
        return math.ceil(len(self.dataset) / self.batch_size)

    def __iter__(self) -> Iterator:
        size = len(self.dataset)
        with ThreadPoolExecutor(min(self.threads, max(1, size)), thread_name_prefix="decode") as pool:
            for start in range(0, size, self.batch_size):
                yield default_collate(list(pool.map(self.dataset.__getitem__,
                                                    range(start, min(size, start + self.batch_size)))))


def make_inference_batches(dataset: Dataset, batch_size: int, *, device: torch.device | None = None,
                           num_workers: int | None = None) -> Iterable:
    """Batches in order for a forward pass without gradients (features, predictions).

    On a CPU: ``ThreadedBatches`` (decode, then compute, each on every core; no worker processes to start).
    On a GPU the network does not need the CPU, so DataLoader workers decode the next batches meanwhile.
    """
    if device is None or device.type == "cpu":
        return ThreadedBatches(dataset, batch_size)
    return make_loader(dataset, batch_size, num_workers=num_workers, device=device)


def valid_batches(loader: Iterable, skipped: dict[int, str], cancel: CancelToken | None = None
                  ) -> Iterator[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
    """(images, labels, indices) with unreadable images removed and recorded in ``skipped`` (index → reason)."""
    for images, labels, indices, errors in loader:
        check_cancel(cancel)
        ok = torch.tensor([not error for error in errors], dtype=torch.bool)
        if not bool(ok.all()):
            for index, error in zip(indices.tolist(), errors, strict=True):
                if error:
                    skipped[index] = error
        if bool(ok.any()):
            yield images[ok], labels[ok], indices[ok]
