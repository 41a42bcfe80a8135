"""One process of a distributed `pigeonhole` command whose rank 1 kills itself mid-run (SIGKILL, no last word).

    torchrun --nproc-per-node 2 tests/core/distributed_crash_helper.py train PROJECT ...

Rank 1 dies the moment it would hand its share of the work to the others (its first ``all_gather``, right
after its feature pass), like a process the out-of-memory killer ends; every other rank runs the command as
``python -m desktop.cli`` does.
"""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from desktop.cli import main
from desktop.ml import distributed

if os.environ.get("RANK") == "1":
    def die(_value):
        os.kill(os.getpid(), signal.SIGKILL)

    distributed.all_gather = die

raise SystemExit(main())
