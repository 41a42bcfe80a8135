"""The GUI imports desktop.ml lazily in worker threads: the modules must not pull in Qt, and the parts the
database layer calls before training (splits) must not even pull in torch."""

from __future__ import annotations

import json
import pkgutil
import subprocess
import sys

import desktop.ml


def _modules_after_import(*names: str) -> set[str]:
    code = f"import importlib, json, sys; [importlib.import_module(n) for n in {list(names)!r}]; " \
           "print(json.dumps(sorted(sys.modules)))"
    output = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    return set(json.loads(output.stdout))


def test_no_ml_module_imports_qt() -> None:
    names = [f"desktop.ml.{m.name}" for m in pkgutil.iter_modules(desktop.ml.__path__)]
    assert "desktop.ml.trainer" in names and "desktop.ml.predict" in names
    loaded = _modules_after_import(*names)
    assert "torch" in loaded
    assert not {m for m in loaded if m.startswith(("PySide6", "shiboken6", "PyQt"))}


def test_package_and_splits_import_without_torch() -> None:
    loaded = _modules_after_import("desktop.ml", "desktop.ml.splits", "desktop.progress")
    assert "torch" not in loaded and "numpy" not in loaded
