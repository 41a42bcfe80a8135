"""`--nproc N`: a command run as N processes by torchrun, the engine PyTorch ships for distributed jobs.

``pigeonhole train PROJECT --nproc 4`` starts
``python -m torch.distributed.run --standalone --nproc-per-node 4 -m desktop.cli train PROJECT`` (as Ultralytics
does) and waits for it; each of the 4 processes finds torchrun's ``RANK``/``WORLD_SIZE`` in its environment and
runs its share (``desktop.ml.distributed``). Several machines: run torchrun yourself on each, with
``--nnodes M --rdzv-backend c10d --rdzv-endpoint HOST:PORT`` (README, "Bigger than a laptop").

What reaches the terminal: rank 0's output and progress, any rank's error sentence once, and none of
torchrun's own log lines or its report of a failed child; when a process died without a sentence (killed, out of
memory), one sentence says which and how. A worker whose command failed leaves at once after its sentence
(``leave_failed_worker``). Torch is not imported here: the launching process only waits.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Sequence
from typing import TextIO

from desktop.cli.common import ERROR_PREFIX, UserError, error_line, positive_int
from desktop.cli.progress import ProgressBar, progress_bar
from desktop.ml.builds import require_torch

ENTRY = ("-m", "desktop.cli")
# Set by the launcher for its workers: rank 0 may draw the bar although its stderr is a pipe to torchrun.
TERMINAL_ENV = "PIGEONHOLE_PROGRESS_TERMINAL"
# Set by torchrun's agent in every process it starts (and by nothing else): the mark of a worker.
TORCHRUN_ENV = "TORCHELASTIC_RUN_ID"
# torchrun's own log lines (glog format: "W1202 04:58:16.703000 5355 torch/distributed/...] ...").
_TORCHRUN_LOG = re.compile(r"^[IWEF]\d{4} \d\d:\d\d:\d\d\.\d+ +\d+ ")
_CHILD_FAILED = re.compile(r"failed \(exitcode: (?P<code>-?\d+)\) local_rank: (?P<rank>\d+)")
# What the C++ runtime prints when a process aborts (a gloo thread left running when a peer vanished): the
# launcher's sentence says which process ended and by which signal; this line adds nothing a user can act on.
_RUNTIME_ABORT = "terminate called without an active exception"


def add_nproc_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--nproc", type=positive_int, default=1, metavar="N",
                        help="run as N processes on this machine (one per GPU), through torchrun; default 1")


def check_launch_environment() -> None:
    """Refuse, in one sentence, torchrun's variables when they cannot describe a place in a job (``RANK=x``, a
    rank beyond ``WORLD_SIZE``): every later reader (here, ``desktop.ml.distributed``) may then trust them."""
    values = {}
    for name, default in (("WORLD_SIZE", "1"), ("RANK", "0"), ("LOCAL_RANK", "0")):
        text = os.environ.get(name, "").strip() or default
        if not re.fullmatch(r"[0-9]{1,9}", text):
            raise UserError(f"The environment variable {name} is {text!r}, but it must be a whole number (it is "
                            "set by torchrun; unset it to run as one process).")
        values[name] = int(text)
    if values["WORLD_SIZE"] < 1 or values["RANK"] >= values["WORLD_SIZE"]:
        raise UserError(f"The environment variables say process {values['RANK']} of {values['WORLD_SIZE']}, "
                        "which cannot be (they are set by torchrun; unset RANK and WORLD_SIZE to run as one process).")
    timeout = os.environ.get(TIMEOUT_ENV, "").strip()
    if timeout and not _positive_seconds(timeout):
        raise UserError(f"The environment variable {TIMEOUT_ENV} is {timeout!r}, but it must be a number of seconds "
                        "above 0.")


TIMEOUT_ENV = "PIGEONHOLE_DIST_TIMEOUT_S"  # read by desktop.ml.distributed


def _positive_seconds(text: str) -> bool:
    try:
        return 0 < float(text) < float("inf")
    except ValueError:
        return False


def worker_rank() -> int | None:
    """This process's rank inside a torchrun launch of several processes; None outside one (the environment is
    checked first: ``check_launch_environment``)."""
    if int(os.environ.get("WORLD_SIZE", "").strip() or 1) <= 1:
        return None
    return int(os.environ.get("RANK", "").strip() or 0)


def most_processes() -> int:
    """The most processes ``--nproc`` may start here: one per CPU core this process may use (a machine has at
    least as many cores as GPUs, and more processes than cores only fight over them), and 2 on a one-core
    machine, so a distributed run can still be tried there."""
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not on Linux
        cores = os.cpu_count() or 1
    return max(2, cores)


def leave_failed_worker(code: int) -> int:
    """``code``, or, in one of torchrun's processes whose command failed, an immediate exit with it.

    Once a peer has gone, what is left of the process group in this one (gloo's threads, the store's socket)
    can abort the interpreter's shutdown ("terminate called without an active exception", SIGABRT) or keep it
    alive until torchrun kills it: a second line under the error sentence, and another exit status. The
    sentence is out and nothing of a failed run is kept, so there is nothing left to finish."""
    if code and TORCHRUN_ENV in os.environ:
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(OSError, ValueError):
                stream.flush()
        os._exit(code)
    return code


def needs_launch(args: argparse.Namespace) -> bool:
    """``--nproc`` above 1, and not already one of torchrun's processes."""
    return args.nproc > 1 and worker_rank() is None


def is_output_rank() -> bool:
    """Only rank 0 (or a process outside torchrun) prints results."""
    return (worker_rank() or 0) == 0


def rank_progress_bar(args: argparse.Namespace, label: str, unit: str = "") -> ProgressBar:
    """The command's progress bar; inside torchrun rank 0's is drawn when the launcher is on a terminal, the
    other ranks' are silent (their notes repeat rank 0's)."""
    bar = progress_bar(args, label, unit=unit)
    rank = worker_rank()
    if rank is None:
        return bar
    if rank:
        bar.stream, bar.enabled = open(os.devnull, "w"), False  # noqa: SIM115 - lives as long as the process
    elif os.environ.get(TERMINAL_ENV) == "1" and not getattr(args, "json", False):
        bar.enabled = True
    return bar


def without_nproc(argv: Sequence[str]) -> list[str]:
    """``argv`` less ``--nproc N`` / ``--nproc=N``."""
    kept: list[str] = []
    skip = False
    for arg in argv:
        if skip:
            skip = False
        elif arg == "--nproc":
            skip = True
        elif not arg.startswith("--nproc="):
            kept.append(arg)
    return kept


def torchrun_command(nproc: int, argv: Sequence[str], entry: Sequence[str] = ENTRY) -> list[str]:
    """The torchrun command line that runs ``argv`` (a pigeonhole command) as ``nproc`` local processes;
    ``entry``: ``-m desktop.cli`` or a script."""
    return [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={nproc}", *entry,
            *without_nproc(argv)]


def worker_environment(nproc: int, stderr: TextIO) -> dict[str, str]:
    env = dict(os.environ)
    # torchrun's default is one thread per process (and a banner saying so): share the cores out instead.
    env.setdefault("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // nproc)))
    if _is_terminal(stderr):
        env[TERMINAL_ENV] = "1"
        env.setdefault("COLUMNS", str(shutil.get_terminal_size().columns))
    return env


def relaunch(args: argparse.Namespace, entry: Sequence[str] = ENTRY) -> int:
    """Run this command (``args.argv``) under torchrun with ``args.nproc`` processes; its exit code."""
    require_torch("Running as several processes (--nproc)")  # torchrun is PyTorch's: the CPU build has none
    if args.nproc > (most := most_processes()):  # 1000 for 10 would fork until the machine gives out
        raise UserError(f"--nproc {args.nproc} is more processes than this computer has CPU cores ({most}); give "
                        f"at most {most} (one per GPU is usual).")
    command = torchrun_command(args.nproc, args.argv, entry)
    stderr = sys.stderr
    process = subprocess.Popen(command, stderr=subprocess.PIPE, env=worker_environment(args.nproc, stderr))
    relay = _StderrRelay(stderr)
    try:
        assert process.stderr is not None
        for segment in _segments(process.stderr):
            relay.feed(segment)
        code = process.wait()
    except KeyboardInterrupt:  # the workers got the same Ctrl+C: let them end, then report it once
        code = process.wait()
        if not relay.said_something:
            print("pigeonhole: interrupted", file=stderr)
        return 130
    if code and not relay.said_something:
        print(error_line(relay.failure_sentence(code)), file=stderr)
    return 130 if relay.interrupted else (1 if code else 0)


def _segments(stream):
    """The bytes of ``stream`` cut after every newline or carriage return (a bar redraw is its own segment)."""
    pending = b""
    while chunk := os.read(stream.fileno(), 65536):
        pending += chunk
        while (cut := _first_break(pending)) >= 0:
            yield pending[:cut + 1]
            pending = pending[cut + 1:]
    if pending:
        yield pending


def _first_break(data: bytes) -> int:
    positions = [p for p in (data.find(b"\n"), data.find(b"\r")) if p >= 0]
    return min(positions) if positions else -1


class _StderrRelay:
    """Passes the workers' stderr through and keeps torchrun's own diagnostics out.

    Before torchrun logs anything, everything is the workers' (rank 0's bar and notes, tracebacks of bugs).
    From torchrun's first log line on (a child failed, it is tearing the job down) only the workers' error
    sentences still pass, each once: every rank reports the same failure."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.tearing_down = False
        self.sentences: set[str] = set()
        self.said_something = False
        self.interrupted = False
        self.failed_rank: int | None = None
        self.failed_code: int | None = None

    def feed(self, segment: bytes) -> None:
        text = segment.decode("utf-8", "surrogateescape")
        line = text.strip()
        if line == _RUNTIME_ABORT:
            return
        if _TORCHRUN_LOG.match(line):
            self.tearing_down = True
            if (failed := _CHILD_FAILED.search(line)) and self.failed_rank is None:
                self.failed_rank, self.failed_code = int(failed["rank"]), int(failed["code"])
            return
        if line.startswith(ERROR_PREFIX) or line == "pigeonhole: interrupted":
            if line in self.sentences:
                return
            self.sentences.add(line)
            self.said_something = True
            self.interrupted |= line == "pigeonhole: interrupted"
        elif self.tearing_down:
            return
        self.stream.write(text)
        self.stream.flush()

    def failure_sentence(self, code: int) -> str:
        if self.failed_rank is None:
            return f"The distributed run failed (torchrun exited with code {code})."
        how = (f"was killed by signal {-self.failed_code}" if self.failed_code is not None and self.failed_code < 0
               else f"ended with exit code {self.failed_code}")
        return f"Process {self.failed_rank} of the distributed run on this machine {how}, so the whole run stopped."


def _is_terminal(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False

