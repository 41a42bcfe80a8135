"""The one home for ranks: a job that torchrun started as several processes (GPUs, machines) working as one.

torchrun (``python -m torch.distributed.run``) starts the processes and tells each its place in the
environment: ``RANK`` (0 … WORLD_SIZE-1 over every machine), ``WORLD_SIZE`` and ``LOCAL_RANK`` (its GPU on this
machine). ``process_group`` joins them (NCCL between GPUs, gloo between CPUs) and always leaves the group;
``shard`` gives each rank its disjoint slice of a list; ``all_gather``, ``gather_to_main`` and
``broadcast_from_main`` move picklable results (numpy arrays included) between ranks; only ``is_main`` (rank 0)
writes anything that lasts.

Outside a torchrun launch every helper is the single-process identity (one rank, ``shard`` returns everything,
gathers return ``[value]``), so callers need no second code path — and torch is not imported: a process group
can only be open once ``process_group`` imported ``torch.distributed``, so the CPU build (no torch) and every
single-process command use this module as it is.

A rank that dies (killed, out of memory, a bug) ends the job cleanly: torchrun stops the others, and a rank
still waiting in a collective gets a connection error, or after ``COLLECTIVE_TIMEOUT`` a timeout, which
``process_group`` turns into ``RankFailed``'s one sentence.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np

from desktop.errors import PigeonholeError

if TYPE_CHECKING:
    import torch
    from torch import nn
    from torch.utils.data import Dataset, DistributedSampler

T = TypeVar("T")

# How long a rank waits in a collective for the others. Long, because rank 0 alone may work a while between
# two collectives (a cross-validated head on a million features); a dead rank is noticed at once anyway (its
# connections close), so the timeout only catches a rank that hangs. PIGEONHOLE_DIST_TIMEOUT_S overrides it.
COLLECTIVE_TIMEOUT = timedelta(minutes=30)
# Words in the errors gloo and NCCL raise (as plain RuntimeErrors) when another rank has gone.
_PEER_GONE = ("connection reset", "connection closed", "connection refused", "broken pipe", "timed out",
              "timeout", "gloo", "nccl", "socket", "peer")
RANK_FAILED = ("Another process of the distributed run failed or stopped answering, so this one stopped too; "
               "nothing was saved from the unfinished work.")


class RankFailed(PigeonholeError):
    """Another process of the distributed job failed or stopped answering; this one stopped too."""


@dataclass(frozen=True)
class Ranks:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1


SINGLE = Ranks()


def launched() -> bool:
    """True inside a torchrun launch of more than one process (its environment names the ranks)."""
    return int(os.environ.get("WORLD_SIZE", "1") or 1) > 1


def ranks_from_env() -> Ranks:
    """This process's place in the job, from torchrun's environment (one rank outside a launch)."""
    if not launched():
        return SINGLE
    return Ranks(int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"]), int(os.environ.get("LOCAL_RANK", 0)))


def _dist():
    """torch.distributed once something imported it (only ``process_group`` does); None before, and in the CPU
    build, where no group can be open."""
    return sys.modules.get("torch.distributed")


def current() -> Ranks:
    """This process's ranks while a process group is open; one rank otherwise."""
    dist = _dist()
    if dist is not None and dist.is_available() and dist.is_initialized():
        return Ranks(dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", 0)))
    return SINGLE


def is_main() -> bool:
    return current().is_main


def device_for(ranks: Ranks, preference: str = "auto") -> torch.device:
    """The device this rank computes on: its own GPU (``cuda:LOCAL_RANK``) when CUDA is used, else as chosen."""
    import torch

    from desktop.ml.device import resolve_device

    device = resolve_device(preference)
    if device.type == "cuda" and ranks.distributed:
        if ranks.local_rank >= torch.cuda.device_count():
            raise PigeonholeError(f"This machine has {torch.cuda.device_count()} GPU(s) but was asked for process "
                                  f"{ranks.local_rank + 1}: give --nproc-per-node at most the number of GPUs.")
        return torch.device("cuda", ranks.local_rank)
    return device


def _timeout() -> timedelta:
    seconds = os.environ.get("PIGEONHOLE_DIST_TIMEOUT_S")
    return timedelta(seconds=float(seconds)) if seconds else COLLECTIVE_TIMEOUT


@contextlib.contextmanager
def process_group(preference: str = "auto") -> Iterator[Ranks]:
    """Join torchrun's job for the ``with`` block (NCCL on CUDA, gloo on CPUs) and always leave it; errors of a
    peer that went away become RankFailed. Outside a launch: one rank, nothing to join."""
    ranks = ranks_from_env()
    if not ranks.distributed:
        yield ranks
        return
    import torch
    import torch.distributed as dist

    device = device_for(ranks, preference)
    if device.type == "cuda":
        torch.cuda.set_device(device)  # NCCL's object collectives use the current device
    backend = "nccl" if device.type == "cuda" else "gloo"
    try:
        dist.init_process_group(backend, timeout=_timeout(), device_id=device if device.type == "cuda" else None)
    except (RuntimeError, ValueError) as exc:
        raise RankFailed(f"Could not join the other processes of the distributed run ({_first_line(exc)}).") \
            from exc
    try:
        yield ranks
    except RankFailed:
        raise
    except RuntimeError as exc:
        if not peer_gone(exc):
            raise
        raise RankFailed(RANK_FAILED) from exc
    finally:
        dist.destroy_process_group()


def peer_gone(error: BaseException) -> bool:
    """The error is gloo's or NCCL's way of saying another rank has gone (or timed out)."""
    dist = _dist()
    if dist is not None and isinstance(error, getattr(dist, "DistError", ())):
        return True
    text = str(error).lower()
    return any(words in text for words in _PEER_GONE)


def _first_line(error: BaseException) -> str:
    return (str(error).strip().splitlines() or [type(error).__name__])[0][:200]


def shard(items: Sequence[T], ranks: Ranks | None = None) -> list[T]:
    """This rank's share of ``items``: every WORLD_SIZE-th one from its rank on. The shares are disjoint, cover
    every item, differ in length by at most one, and ``unshard`` puts their results back in order."""
    ranks = ranks or current()
    return list(items[ranks.rank::ranks.world_size])


def unshard(parts: Sequence[Sequence[T]]) -> list[T]:
    """The results of every rank's ``shard`` (in rank order) back in the order of the original items."""
    total = sum(len(part) for part in parts)
    world = len(parts)
    return [parts[index % world][index // world] for index in range(total)]


def shard_indices(count: int, ranks: Ranks | None = None) -> np.ndarray:
    """The positions of this rank's ``shard`` of ``count`` items."""
    ranks = ranks or current()
    return np.arange(ranks.rank, count, ranks.world_size)


def all_gather(value: Any) -> list[Any]:
    """Every rank's ``value`` (picklable: numbers, numpy arrays, lists…), in rank order, on every rank."""
    ranks = current()
    if not ranks.distributed:
        return [value]
    gathered: list[Any] = [None] * ranks.world_size
    _collective(_dist().all_gather_object, gathered, value)
    return gathered


def gather_to_main(value: Any) -> list[Any] | None:
    """Every rank's ``value`` in rank order on rank 0; None on the other ranks."""
    ranks = current()
    if not ranks.distributed:
        return [value]
    gathered: list[Any] | None = [None] * ranks.world_size if ranks.is_main else None
    _collective(_dist().gather_object, value, gathered, dst=0)
    return gathered


def gather_arrays(array: np.ndarray) -> np.ndarray | None:
    """Every rank's rows, concatenated in rank order, on rank 0 (None elsewhere)."""
    parts = gather_to_main(np.asarray(array))
    return None if parts is None else np.concatenate(parts)


def broadcast_from_main(value: Any) -> Any:
    """Rank 0's ``value`` on every rank (what the others pass is ignored)."""
    if not current().distributed:
        return value
    box = [value]
    _collective(_dist().broadcast_object_list, box, src=0)
    return box[0]


def barrier() -> None:
    """Wait until every rank is here."""
    if current().distributed:
        _collective(_dist().barrier)


def _collective(function, *args, **kwargs) -> None:
    try:
        function(*args, **kwargs)
    except RuntimeError as exc:
        if peer_gone(exc):
            raise RankFailed(RANK_FAILED) from exc
        raise


def main_first(work: Callable[[], T]) -> T:
    """``work()`` on rank 0 alone (it may write: the database, a file), its result on every rank. When it fails
    with a PigeonholeError every rank raises that sentence, so the whole job ends with the same one."""
    if not current().distributed:
        return work()
    outcome: tuple[bool, Any] = (True, None)
    try:
        if is_main():
            outcome = (True, work())
    except PigeonholeError as error:
        broadcast_from_main((False, str(error)))
        raise
    ok, value = broadcast_from_main(outcome)
    if not ok:
        raise PigeonholeError(value)
    return value


def data_parallel(module: nn.Module, device: torch.device) -> nn.Module:
    """``module`` wrapped in DistributedDataParallel (gradients averaged across ranks at every step, rank 0's
    weights copied to the others first); ``module`` itself in a single process."""
    if not current().distributed:
        return module
    from torch.nn.parallel import DistributedDataParallel

    return DistributedDataParallel(module, device_ids=[device.index] if device.type == "cuda" else None)


def sampler_for(dataset: Dataset, seed: int) -> DistributedSampler | None:
    """A shuffling sampler giving this rank its disjoint share of ``dataset`` (every rank the same number of
    batches, as DistributedDataParallel needs); None in a single process (the loader shuffles)."""
    ranks = current()
    if not ranks.distributed:
        return None
    from torch.utils.data import DistributedSampler

    return DistributedSampler(dataset, num_replicas=ranks.world_size, rank=ranks.rank, shuffle=True, seed=seed)


def start_epoch(loader: Iterable, epoch: int) -> None:
    """A new shuffle of the shares for ``epoch`` (a DistributedSampler repeats its order otherwise)."""
    if not current().distributed:
        return
    from torch.utils.data import DistributedSampler

    sampler = getattr(loader, "sampler", None)
    if isinstance(sampler, DistributedSampler):
        sampler.set_epoch(epoch)
