"""What every command shares: the registry, the user-error type, argument types, and how results and errors
are printed."""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import sqlite3
from collections.abc import Callable
from pathlib import Path

from desktop.errors import PigeonholeError
from desktop.ml.options import MAX_SEED

Handler = Callable[[argparse.Namespace], int]
COMMANDS: dict[str, Handler] = {}


class UserError(Exception):
    """Reported as one sentence on stderr with exit code 1."""


# --- errors ----------------------------------------------------------------------------------------------------
#
# The rule for an error a user sees: ONE line on stderr that starts "pigeonhole: error: " and ends with a period.
# `error_line` is the only place that formats one, so a message that spans lines (an exception quoting a
# driver's output, a path with a newline) cannot break the rule.

ERROR_PREFIX = "pigeonhole: error: "


def error_line(message: object) -> str:
    """``message`` as the one line the user sees: whitespace runs (newlines too) collapsed, control characters
    escaped, a final period added when the sentence has none."""
    text = re.sub(r"\s+", " ", str(message)).strip() or "Something went wrong."
    text = terminal_safe(text)
    if not text.endswith((".", "?", "!")):
        text += "."
    return ERROR_PREFIX + text


def os_error_sentence(error: OSError) -> str:
    """A failed file operation (disk full, permission denied, a vanished file) in the system's own words."""
    reason = error.strerror or type(error).__name__
    filename = getattr(error, "filename", None)
    return f"{reason}: {filename}." if filename else f"{reason}."


def user_message(exc: BaseException) -> str | None:
    """The sentence for an error the user can act on; None for a bug (shown with its traceback).

    Expected failures: our own errors (a missing project, no model, not enough data…), and what the system or
    the disk says (permission denied, disk full) — an OSError with the system's reason, or SQLite's."""
    if isinstance(exc, UserError | PigeonholeError):
        return str(exc)
    if isinstance(exc, OSError) and exc.strerror:
        return os_error_sentence(exc)
    if isinstance(exc, FileNotFoundError):
        return str(exc)
    if isinstance(exc, RuntimeError) and str(exc).startswith("Symlink loop from "):  # Path.resolve, Python 3.11
        return f"{str(exc).removeprefix('Symlink loop from ')} goes through a loop of symbolic links."
    driver = getattr(exc, "orig", None)  # SQLAlchemy wraps the driver's error
    if isinstance(driver, sqlite3.DatabaseError):
        return f"The project database failed: {driver}."
    return None


# --- argument types: argparse turns their ArgumentTypeError into usage + one error line, exit 2 -----------------


def _whole_number(text: str) -> int:
    # ASCII digits only: int() also takes "٣" and "1_000", which no one means as a count.
    if not re.fullmatch(r"\s*[+-]?[0-9]+\s*", text):
        raise argparse.ArgumentTypeError(f"expected a whole number, not {text!r}")
    return int(text)


def positive_int(text: str) -> int:
    """1, 2, 3, …"""
    value = _whole_number(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {text!r}")
    return value


def seed_value(text: str) -> int:
    value = _whole_number(text)
    if not 0 <= value <= MAX_SEED:
        raise argparse.ArgumentTypeError(f"must be a whole number from 0 to {MAX_SEED}, not {text!r}")
    return value


def _finite(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, not {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"must be a finite number, not {text!r}")
    return value


def positive_float(text: str) -> float:
    value = _finite(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be greater than 0, not {text!r}")
    return value


def fraction(text: str) -> float:
    """A probability or a similarity: 0 to 1."""
    value = _finite(text)
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1, not {text!r}")
    return value


# SQLite stores integers in 8 bytes: a larger id is no row of any table (and the driver refuses to send it).
MAX_ID = 2**63 - 1


def record_id(text: str) -> int:
    """A row's id as the user types it: ASCII digits only (``int`` would take "²"'s siblings "٣" or "1_0"), 1 to
    SQLite's largest integer."""
    if not re.fullmatch(r"[0-9]+", text.strip()):
        raise argparse.ArgumentTypeError(f"expected an id (a whole number such as 12), not {text!r}")
    value = int(text)
    if not 1 <= value <= MAX_ID:
        raise argparse.ArgumentTypeError(f"there is no id {text.strip()!r}: ids run from 1 to {MAX_ID}")
    return value


def path_argument(text: str) -> Path:
    """A file or folder the user names, ``~`` expanded, refused in one sentence when it cannot name anything:
    empty, the home of a user this computer does not know (``~nobody/x``), or a loop of symbolic links. The
    one place the command line turns a word into a path, so every command gets the same answers."""
    if not text.strip():
        raise argparse.ArgumentTypeError("expected a path, not an empty word")
    expanded = os.path.expanduser(text)
    if expanded.startswith("~"):  # expanduser leaves an unknown user's ~ as it is
        user = expanded[1:].split(os.sep, 1)[0]
        raise argparse.ArgumentTypeError(f"{text!r} starts with the home folder of {user or 'the current user'}, "
                                         "which this computer does not know")
    path = Path(expanded)
    try:
        path.resolve()
    except RuntimeError:  # Python 3.11's resolve() says "Symlink loop"; later ones raise OSError(ELOOP)
        raise argparse.ArgumentTypeError(f"{text!r} goes through a loop of symbolic links") from None
    except OSError as exc:
        raise argparse.ArgumentTypeError(f"{text!r}: {exc.strerror or exc}") from None
    return path


def image_reference(text: str) -> int | Path:
    """A photo as the user names it: its id (ASCII digits) or its path, made absolute (so that a name of other
    digits, "²", is only ever a file name)."""
    if re.fullmatch(r"\s*[0-9]+\s*", text):
        return record_id(text)
    return path_argument(text).absolute()


def command(name: str) -> Callable[[Handler], Handler]:
    def register(function: Handler) -> Handler:
        COMMANDS[name] = function
        return function

    return register


def emit_result(args: argparse.Namespace, payload: dict, text: str) -> None:
    """JSON on stdout with --json (the shape other tools rely on), else a human sentence."""
    if args.json:
        # A file name that is not valid UTF-8 holds lone surrogates, which stdout cannot encode: written as
        # JSON's own \udcXX escapes, which a JSON reader turns back into the same string.
        text = json.dumps(payload, indent=2, ensure_ascii=False).encode("utf-8", "backslashreplace").decode()
        # json.dumps leaves DEL and the C1 controls (0x9b starts an escape sequence on some terminals) raw.
        text = _C1.sub(lambda match: f"\\u{ord(match.group()):04x}", text)
    print(text)


_C1 = re.compile("[\x7f-\x9f]")
_CONTROL = {c: f"\\x{c:02x}" for c in (*range(0x00, 0x20), 0x7F, *range(0x80, 0xA0))}
_CONTROL.pop(ord("\t"))
# Undecodable bytes of a file name (os.fsdecode's surrogates) as the byte they stand for: printed raw they
# would be bytes like 0x9b, a one-byte escape-sequence start for some terminals.
_CONTROL.update({0xDC00 + byte: f"\\x{byte:02x}" for byte in range(0x80, 0x100)})


def terminal_safe(text: object) -> str:
    """``text`` with control characters shown as ``\\xNN``: names from a project, a model file or a file name
    can carry terminal escape sequences (retitle, clear, fake output) that must never reach the terminal raw.
    JSON output needs no such care (``json.dumps`` escapes them)."""
    return str(text).translate(_CONTROL)
