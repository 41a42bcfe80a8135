"""What every command shares: the registry, the user-error type and how results are printed."""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable

Handler = Callable[[argparse.Namespace], int]
COMMANDS: dict[str, Handler] = {}


class UserError(Exception):
    """Reported as one sentence on stderr with exit code 1."""


def command(name: str) -> Callable[[Handler], Handler]:
    def register(function: Handler) -> Handler:
        COMMANDS[name] = function
        return function

    return register


def emit_result(args: argparse.Namespace, payload: dict, text: str) -> None:
    """JSON on stdout with --json (the shape other tools rely on), else a human sentence."""
    print(json.dumps(payload, indent=2, ensure_ascii=False) if args.json else text)


_CONTROL = {c: f"\\x{c:02x}" for c in (*range(0x00, 0x20), 0x7F, *range(0x80, 0xA0))}
_CONTROL.pop(ord("\t"))


def terminal_safe(text: object) -> str:
    """``text`` with control characters shown as ``\\xNN``: names from a project, a model file or a file name
    can carry terminal escape sequences (retitle, clear, fake output) that must never reach the terminal raw.
    JSON output needs no such care (``json.dumps`` escapes them)."""
    return str(text).translate(_CONTROL)
