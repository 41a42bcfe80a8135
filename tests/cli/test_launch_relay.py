"""`--nproc N` as a user sees it: one sentence when a process of the run fails, whatever torchrun, gloo and
the C++ runtime print around it; and a failed worker that leaves at once instead of lingering in its shutdown.

The real runs (torchrun, two processes, a rank killed) are in tests/core/test_distributed_training.py; these
feed the relay what those runs print, in the orders a loaded machine produced."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

from cli_helpers import assert_one_error_line

from desktop.cli.launch import TORCHRUN_ENV, _StderrRelay

SENTENCE = ("pigeonhole: error: Another process of the distributed run failed or stopped answering, so this one "
            "stopped too; nothing was saved from the unfinished work.\n")
TORCHRUN_SIGTERM = ("W1207 23:59:44.130000 1272 torch/distributed/elastic/multiprocessing/api.py:1028] Sending "
                    "process 1278 closing signal SIGTERM\n")
TORCHRUN_FAILED = ("E1207 23:59:44.197000 1272 torch/distributed/elastic/multiprocessing/api.py:1002] failed "
                   "(exitcode: -9) local_rank: 1 (pid: 1279) of binary: /usr/bin/python3\n")
CPP_ABORT = "terminate called without an active exception\n"


def _relay(*segments: str) -> tuple[_StderrRelay, str]:
    out = io.StringIO()
    relay = _StderrRelay(out)
    for segment in segments:
        relay.feed(segment.encode())
    return relay, out.getvalue()


def test_a_killed_rank_is_one_sentence_whatever_order_the_lines_come_in() -> None:
    # The order CI printed: rank 0's sentence, then the C++ runtime aborting rank 0's shutdown, then torchrun.
    orders = [(SENTENCE, CPP_ABORT, TORCHRUN_SIGTERM, TORCHRUN_FAILED, "Traceback (most recent call last):\n",
               "torch.distributed.elastic.multiprocessing.errors.ChildFailedError:\n", SENTENCE),
              (CPP_ABORT, SENTENCE, TORCHRUN_FAILED),
              (TORCHRUN_SIGTERM, SENTENCE, CPP_ABORT, TORCHRUN_FAILED, SENTENCE)]
    for order in orders:
        relay, shown = _relay(*order)
        assert shown == SENTENCE, order
        assert relay.said_something


def test_a_rank_that_aborted_without_a_sentence_is_named_with_its_signal() -> None:
    relay, shown = _relay("\rtraining  40%", CPP_ABORT, TORCHRUN_FAILED.replace("-9", "-6").replace(": 1 ", ": 0 "))
    assert shown == "\rtraining  40%"
    assert not relay.said_something
    assert relay.failure_sentence(1) == ("Process 0 of the distributed run on this machine was killed by signal 6, "
                                         "so the whole run stopped.")


def test_before_torchrun_speaks_the_workers_output_passes_whole() -> None:
    traceback = "Traceback (most recent call last):\n  File \"x.py\", line 1\nZeroDivisionError: division by zero\n"
    _, shown = _relay("\rtraining  10%", "\rtraining 100%\n", *traceback.splitlines(keepends=True))
    assert shown == "\rtraining  10%\rtraining 100%\n" + traceback  # a bug's traceback is kept for its reporter


def _run_as_worker(argv: list[str], torchrun: bool) -> subprocess.CompletedProcess:
    """``pigeonhole ARGV`` in a fresh interpreter that says, at its shutdown, that it got there."""
    script = ("import atexit, sys\n"
              "atexit.register(lambda: print('shut down normally', file=sys.stderr))\n"
              "from desktop.cli import main\n"
              f"raise SystemExit(main({argv!r}))\n")
    env = {key: value for key, value in os.environ.items() if key != TORCHRUN_ENV}
    if torchrun:
        env[TORCHRUN_ENV] = "none"
    root = Path(__file__).resolve().parents[2]
    return subprocess.run([sys.executable, "-c", script], cwd=root, env=env, capture_output=True, text=True,
                          timeout=120, check=False)


def test_a_failed_worker_leaves_at_once_with_its_sentence(tmp_path: Path, project) -> None:
    missing = ["status", str(tmp_path / "missing.pigeonhole")]

    as_worker = _run_as_worker(missing, torchrun=True)
    assert as_worker.returncode == 1
    assert_one_error_line(as_worker.stderr)  # and no "shut down normally": nothing ran after the sentence

    # The same failure outside torchrun, and a worker that succeeded, shut down as usual.
    alone = _run_as_worker(missing, torchrun=False)
    assert alone.returncode == 1 and alone.stderr.strip().endswith("shut down normally"), alone.stderr
    succeeded = _run_as_worker(["status", str(project.path)], torchrun=True)
    assert succeeded.returncode == 0, succeeded.stderr
    assert succeeded.stderr.strip() == "shut down normally"
