"""scripts/check_limits.py: CI fails, in one sentence, on a module over 600 lines or an import cycle (an import
made only for type checking included), and passes a package that keeps the limits."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "check_limits.py"


def check(root: Path, package: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SCRIPT), "--root", str(root), "--package", package],
                          capture_output=True, text=True, timeout=120)


def make_package(root: Path, name: str, modules: dict[str, str]) -> None:
    for relative, text in {"__init__.py": "", **modules}.items():
        path = root / name / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def test_a_package_within_the_limits_passes(tmp_path: Path) -> None:
    make_package(tmp_path, "tidy", {"a.py": "from tidy import b\n" + "x = 1\n" * 598, "b.py": "y = 2\n",
                                    "db/migrations/versions/0001_big.py": "z = 3\n" * 900})
    result = check(tmp_path, "tidy")
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""


def test_a_module_over_600_lines_fails_naming_it(tmp_path: Path) -> None:
    make_package(tmp_path, "grown", {"small.py": "x = 1\n", "sub/__init__.py": "", "sub/big.py": "x = 1\n" * 601})
    result = check(tmp_path, "grown")
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        "grown/sub/big.py has 601 lines, over the limit of 600: split it along an idea."]


def test_an_import_cycle_hidden_in_a_function_fails_naming_it(tmp_path: Path) -> None:
    make_package(tmp_path, "knot", {"a.py": "from knot import b\n",
                                    "b.py": "def f():\n    from knot.a import g\n    return g\n",
                                    "c.py": "from knot import a\n"})
    result = check(tmp_path, "knot")
    assert result.returncode == 1
    assert "Import cycle: knot.a ↔ knot.b import each other" in result.stderr
    assert "knot.c" not in result.stderr


def test_a_cycle_through_type_checking_imports_counts(tmp_path: Path) -> None:
    make_package(tmp_path, "typed", {
        "window.py": "from typed import controller\n",
        "controller.py": "from typed import history\n",
        "history.py": ("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n"
                       "    from typed.window import Window\n"),
    })
    result = check(tmp_path, "typed")
    assert result.returncode == 1
    assert result.stderr.strip() == (
        "Import cycle: typed.controller ↔ typed.history ↔ typed.window import each other (move what they share "
        "into a module both import, or type against a Protocol).")
