"""Run (or resume) a sort in its own process, so a test can kill it at a chosen moment with SIGKILL.

    python tests/core/sort_crash_helper.py PROJECT SORT_ID [--delay S] [--kill-after-link N]
                                           [--kill-after-fsync N] [--pause-after N --release FILE]
                                           [--resume | --undo]

``--delay`` sleeps before each photo (the test kills the process from outside once the journal shows enough
done); ``--kill-after-link N`` and ``--kill-after-fsync N`` kill it from inside right after the N-th hard link
(a move with both names present) or the N-th fsync (a copy's temp file written but not yet published).
``--pause-after N --release FILE`` stops once N photos are done, writes FILE.paused, and goes on only when FILE
exists: a test does something else while this process holds the sort, as long as it needs, with no timing.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))

from desktop.core import sorting
from desktop.core.project import open_project


def _killed_after(function: Callable, calls: int) -> Callable:
    count = 0

    def wrapper(*args, **kwargs):
        nonlocal count
        result = function(*args, **kwargs)
        count += 1
        if count >= calls:
            os.kill(os.getpid(), signal.SIGKILL)  # no cleanup, no finally: like a power cut for this process
        return result

    return wrapper


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("project", type=Path)
    parser.add_argument("sort_id", type=int)
    parser.add_argument("--delay", type=float, default=0.0)
    parser.add_argument("--kill-after-link", type=int)
    parser.add_argument("--kill-after-fsync", type=int)
    parser.add_argument("--pause-after", type=int)
    parser.add_argument("--release", type=Path)
    parser.add_argument("--resume", action="store_true")
    parser.add_argument("--undo", action="store_true")
    args = parser.parse_args()
    if args.kill_after_link:
        os.link = _killed_after(os.link, args.kill_after_link)
    if args.kill_after_fsync:
        os.fsync = _killed_after(os.fsync, args.kill_after_fsync)

    def slow(progress: sorting.SortProgress) -> None:
        if args.delay:
            time.sleep(args.delay)
        if args.pause_after is not None and progress.done == args.pause_after:
            args.pause_after = None
            args.release.with_suffix(".paused").touch()
            while not args.release.exists():
                time.sleep(0.02)

    run = sorting.undo_sort if args.undo else sorting.run_sort  # --resume runs the sort again, like a first run
    with open_project(args.project, create=False) as project:
        result = run(project, args.sort_id, on_progress=slow)
    print(json.dumps(result.as_json()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
