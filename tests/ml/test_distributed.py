"""desktop.ml.distributed: shards, gathers and a dead rank, in a real 2-process gloo group (CPU only)."""

from __future__ import annotations

import json
import multiprocessing
import os
import socket
from pathlib import Path

import numpy as np
import pytest

from desktop.ml import distributed
from desktop.ml.distributed import Ranks, shard, unshard


@pytest.mark.parametrize("count", [0, 1, 5, 6, 17])
@pytest.mark.parametrize("world", [1, 2, 3, 4])
def test_shards_are_disjoint_cover_everything_and_unshard_restores_the_order(count: int, world: int) -> None:
    items = list(range(100, 100 + count))
    parts = [shard(items, Ranks(rank, world)) for rank in range(world)]
    assert sorted(x for part in parts for x in part) == items
    assert max(map(len, parts)) - min(map(len, parts)) <= 1
    assert unshard(parts) == items
    for rank, part in enumerate(parts):
        assert [items[i] for i in distributed.shard_indices(count, Ranks(rank, world))] == part


def test_outside_a_launch_every_helper_is_the_single_process_identity(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    assert not distributed.launched()
    with distributed.process_group("cpu") as ranks:
        assert ranks == distributed.SINGLE and ranks.is_main and distributed.is_main()
        assert shard([1, 2, 3]) == [1, 2, 3]
        assert distributed.all_gather({"a": 1}) == [{"a": 1}]
        assert distributed.gather_to_main(5) == [5]
        np.testing.assert_array_equal(distributed.gather_arrays(np.arange(3)), np.arange(3))
        assert distributed.broadcast_from_main("x") == "x"
        distributed.barrier()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _rank_main(rank: int, world: int, ports: tuple[int, int], out: str) -> None:
    """One rank, as torchrun would start it: a group that works, then a second one in which rank 1 dies.
    Writes what it saw to ``out/<rank>.json`` (one pair of processes for both: each starts torch once)."""
    os.environ.update(RANK=str(rank), LOCAL_RANK=str(rank), WORLD_SIZE=str(world), MASTER_ADDR="127.0.0.1",
                      PIGEONHOLE_DIST_TIMEOUT_S="20")
    seen: dict = {}
    os.environ["MASTER_PORT"] = str(ports[0])
    with distributed.process_group("cpu") as ranks:
        seen["ranks"] = [ranks.rank, ranks.world_size, ranks.local_rank]
        mine = shard(list(range(11)))
        seen["shard"] = mine
        seen["unsharded"] = unshard(distributed.all_gather([x * 10 for x in mine]))
        seen["gathered"] = distributed.gather_to_main({"rank": rank})
        rows = distributed.gather_arrays(np.full((rank + 1, 2), rank, np.float32))
        seen["rows"] = None if rows is None else rows.tolist()
        seen["broadcast"] = distributed.broadcast_from_main(f"from {rank}")
        distributed.barrier()
        seen["is_main"] = distributed.is_main()
    seen["left"] = not distributed.current().distributed
    Path(out, f"{rank}.json").write_text(json.dumps(seen))
    os.environ["MASTER_PORT"] = str(ports[1])
    try:
        with distributed.process_group("cpu"):
            if rank == 1:
                os._exit(3)  # gone without a word, like a process the out-of-memory killer ended
            distributed.all_gather("anyone?")
    except distributed.RankFailed as exc:
        seen["failed"] = str(exc)
    Path(out, f"{rank}.json").write_text(json.dumps(seen))
    # Leave as the command line's workers do after a peer vanished (desktop.cli.launch.leave_failed_worker): the
    # interpreter's own shutdown beside gloo's remains may abort ("terminate called ...") on a loaded machine.
    os._exit(0)


@pytest.fixture(scope="module")
def two_ranks(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[int], dict[int, dict]]:
    out = tmp_path_factory.mktemp("ranks")
    context = multiprocessing.get_context("spawn")
    ports = (_free_port(), _free_port())
    processes = [context.Process(target=_rank_main, args=(rank, 2, ports, str(out))) for rank in range(2)]
    for process in processes:
        process.start()
    for process in processes:
        process.join(90)
        if process.is_alive():
            process.kill()
            pytest.fail("a rank hung")
    seen = {rank: json.loads((out / f"{rank}.json").read_text()) for rank in range(2)}
    return [process.exitcode for process in processes], seen


def test_two_gloo_ranks_shard_gather_and_broadcast(two_ranks) -> None:
    _codes, seen = two_ranks
    assert seen[0]["ranks"] == [0, 2, 0] and seen[1]["ranks"] == [1, 2, 1]
    assert seen[0]["shard"] == [0, 2, 4, 6, 8, 10] and seen[1]["shard"] == [1, 3, 5, 7, 9]
    assert seen[0]["unsharded"] == seen[1]["unsharded"] == [x * 10 for x in range(11)]
    assert seen[0]["gathered"] == [{"rank": 0}, {"rank": 1}] and seen[1]["gathered"] is None
    assert seen[0]["rows"] == [[0, 0], [1, 1], [1, 1]] and seen[1]["rows"] is None
    assert seen[0]["broadcast"] == seen[1]["broadcast"] == "from 0"
    assert seen[0]["is_main"] and not seen[1]["is_main"]
    assert seen[0]["left"] and seen[1]["left"]  # the group is destroyed when the block ends


def test_a_rank_that_dies_fails_the_other_with_one_sentence(two_ranks) -> None:
    codes, seen = two_ranks
    assert codes == [0, 3]  # rank 0 left the group and ended normally, with the sentence
    assert seen[0]["failed"] == distributed.RANK_FAILED and "failed" not in seen[1]
    assert "\n" not in seen[0]["failed"] and seen[0]["failed"].endswith(".")
