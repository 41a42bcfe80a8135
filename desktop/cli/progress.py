"""A one-line progress bar on stderr for long commands: ``Training ▕██████░░░░▏ 62% 31/50 photos · 0:12 left``.

Drawn only when stderr is a terminal and the command does not print ``--json`` (a log file or a pipe gets
nothing, not a stream of carriage returns). The line is rewritten in place with ``\\r``, at most ten times a
second, and cut to the terminal's width (a wrapped line cannot be rewritten). Notes (``bar.note``) go on their
own line above the bar, whether or not a bar is drawn.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TextIO

from desktop.cli.common import terminal_safe

MIN_INTERVAL_S = 0.1  # ~10 redraws a second: smooth to the eye, no cost to the work
BAR_WIDTH = 20
_CLEAR_TO_END = "\033[K"


def format_duration(seconds: float) -> str:
    """0:07, 12:34, 1:02:03."""
    seconds = max(0, round(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


class ProgressBar:
    """``update(done, total)`` as work goes; ``close()`` (or leaving the ``with``) ends the line.

    ``total == 0`` means the amount of work is unknown: the bar then shows the label and the time elapsed.
    Without an ``eta`` from the caller the time left comes from the average rate since the first update.
    """

    def __init__(self, label: str, *, unit: str = "", stream: TextIO | None = None, enabled: bool | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.enabled = _is_terminal(self.stream) if enabled is None else enabled
        self.label, self.unit, self.clock = label, unit, clock
        self.done = self.total = 0
        self.eta: float | None = None
        self.started = clock()
        self._rate_from: tuple[float, int] | None = None  # (time, done) of the first update with work done
        self._last_draw: float | None = None
        self._drawn = False  # a bar line is on the screen (so a note must clear it first)
        self._lock = threading.Lock()  # `ticking` redraws from a thread
        self._full, self._empty = ("█", "░") if _can_encode(self.stream, "▕█░▏·…") else ("#", "-")

    def update(self, done: int, total: int, *, eta: float | None = None, label: str | None = None,
               unit: str | None = None) -> None:
        now = self.clock()
        with self._lock:
            relabelled = label is not None and label != self.label
            if label is not None:
                self.label = label
            if unit is not None:
                self.unit = unit
            if relabelled or total != self.total or done < self.done:
                self._rate_from = None  # a new phase: the old rate says nothing about it
            self.done, self.total, self.eta = done, total, eta
            if self._rate_from is None and done > 0:
                self._rate_from = (now, done)
            finished = total > 0 and done >= total
            if relabelled or finished or self._last_draw is None or now - self._last_draw >= MIN_INTERVAL_S:
                self._draw(now)

    def note(self, message: str) -> None:
        """A line of its own above the bar (always printed: notes matter even in a log)."""
        with self._lock:
            prefix = "\r" + _CLEAR_TO_END if self._drawn else ""
            print(f"{prefix}note: {terminal_safe(message)}", file=self.stream, flush=True)
            self._drawn = False
            if self._last_draw is not None:
                self._draw(self.clock())

    def close(self) -> None:
        with self._lock:
            if self._drawn:
                print(file=self.stream, flush=True)  # keep the last state on screen, start a fresh line
                self._drawn = False

    def __enter__(self) -> ProgressBar:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def render(self, now: float | None = None, width: int | None = None) -> str:
        """The bar's text (no carriage return); within ``width`` columns the label gives way first."""
        now = self.clock() if now is None else now
        parts = []
        if self.total > 0:
            fraction = min(1.0, max(0.0, self.done / self.total))
            filled = round(fraction * BAR_WIDTH)
            left, right = ("▕", "▏") if self._full == "█" else ("[", "]")
            parts.append(f"{left}{self._full * filled}{self._empty * (BAR_WIDTH - filled)}{right}")
            parts.append(f"{fraction:.0%}")
            parts.append(f"{self.done:,}/{self.total:,}" + (f" {self.unit}" if self.unit else ""))
        elif self.done:
            parts.append(f"{self.done:,}" + (f" {self.unit}" if self.unit else ""))
        tail = "".join(f" {part}" for part in parts)
        dot = "·" if self._full == "█" else "-"
        remaining = self._remaining(now)
        if remaining is not None:
            tail += f" {dot} {format_duration(remaining)} left"
        elif self.total <= 0:
            tail += f" {dot} {format_duration(now - self.started)}"
        label = terminal_safe(self.label)
        if width is not None and len(label) + len(tail) > width:
            room = width - len(tail)
            ellipsis = "…" if self._full == "█" else "~"
            label = label[:room - 1] + ellipsis if room >= 8 else ""
            return (label + tail)[:width] if label else tail.lstrip()[:width]
        return label + tail

    def _remaining(self, now: float) -> float | None:
        if self.total <= 0 or self.done >= self.total:
            return None
        if self.eta is not None:
            return self.eta
        if self._rate_from is None:
            return None
        since, first_done = self._rate_from
        if self.done <= first_done or now <= since:
            return None
        return (now - since) / (self.done - first_done) * (self.total - self.done)

    def _draw(self, now: float) -> None:
        self._last_draw = now
        if not self.enabled:
            return
        width = shutil.get_terminal_size(fallback=(80, 24)).columns
        line = self.render(now, width=max(10, width - 1))  # the last column would wrap on some terminals
        self.stream.write(f"\r{line}{_CLEAR_TO_END}")
        self.stream.flush()
        self._drawn = True

    @contextmanager
    def ticking(self, interval: float = 0.5) -> Iterator[ProgressBar]:
        """Redraw on a timer while work that reports nothing runs (an export): the elapsed time moves."""
        stop = threading.Event()

        def tick() -> None:
            while not stop.wait(interval):
                with self._lock:
                    self._draw(self.clock())

        with self._lock:
            self._draw(self.clock())
        thread = threading.Thread(target=tick, name="progress-ticker", daemon=True)
        if self.enabled:
            thread.start()
        try:
            yield self
        finally:
            stop.set()
            if thread.is_alive():
                thread.join()
            self.close()


def progress_bar(args: argparse.Namespace, label: str, unit: str = "") -> ProgressBar:
    """The bar for a command: drawn on a terminal, silent under ``--json`` (tools read that output)."""
    bar = ProgressBar(label, unit=unit)
    if getattr(args, "json", False):
        bar.enabled = False
    return bar


def _is_terminal(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):  # no isatty, or closed
        return False


def _can_encode(stream: TextIO, text: str) -> bool:
    try:
        text.encode(getattr(stream, "encoding", None) or "ascii")
    except (LookupError, UnicodeEncodeError):
        return False
    return True


def show_import(bar: ProgressBar, progress) -> None:
    """An ``ImportProgress`` on the bar: files found while scanning, then files read of those to read."""
    if progress.scanning:
        bar.update(progress.seen, 0, label=f"Scanning {progress.folder}", unit="photos found")
    else:
        bar.update(progress.processed, progress.to_process, label=f"Reading {progress.folder}", unit="photos")
