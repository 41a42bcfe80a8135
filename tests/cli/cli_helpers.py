"""What the command-line tests share (importable: pytest puts this folder on sys.path)."""

from __future__ import annotations

import io
import sys


class FakeTerminal(io.StringIO):
    """A StringIO that says it is a terminal (what `pigeonhole` sees in an interactive shell)."""

    encoding = "utf-8"

    def isatty(self) -> bool:
        return True


def assert_one_error_line(stderr: str) -> None:
    """The rule in desktop/cli/common.py: one line, "pigeonhole: error: …", ending with a period."""
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    assert lines[0].startswith("pigeonhole: error: "), stderr
    assert lines[0].endswith("."), lines[0]
    assert "Traceback" not in stderr


def terminal_on_stderr(monkeypatch) -> FakeTerminal:
    """Make stderr a terminal for the rest of the test; read it with ``.getvalue()``. Call it in the test's body:
    pytest's capture replaces sys.stderr after fixtures are set up, so a fixture could not do this."""
    fake = FakeTerminal()
    monkeypatch.setattr(sys, "stderr", fake)
    return fake
