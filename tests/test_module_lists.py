"""The maps of the code stay true: README.md's Architecture section names every module of desktop/ and nothing
that does not exist, and desktop/ml/__init__.py's list is desktop/ml's modules."""

from __future__ import annotations

import re
from pathlib import Path

import desktop.ml

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "desktop"
NOT_LISTED = {"__init__", "__main__"}  # a package's own file and `python -m`'s entry are their folder's


def modules() -> set[str]:
    """Every module file under desktop/ as `desktop/x/y.py`, migrations aside (their folder is listed)."""
    return {path.relative_to(ROOT).as_posix() for path in PACKAGE.rglob("*.py")
            if path.stem not in NOT_LISTED and "migrations" not in path.parts}


def architecture_rows() -> list[tuple[str, str]]:
    """(where, what) of each row of the Architecture section's table."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("\n## Architecture\n", 1)[1].split("\n## ", 1)[0]
    rows = []
    for line in section.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if line.startswith("|") and len(cells) == 3 and cells[1].startswith("`desktop/"):
            rows.append((cells[1], cells[2]))
    return rows


def listed_in_readme() -> tuple[set[str], set[str]]:
    """(modules the table names, names in it that are no module). A row's "where" names paths: the first in
    full (`desktop/ui/similar.py` or a folder `desktop/ui/sorting/`), the next ones beside it (`health.py`). A
    folder's row names its modules in its "what" cell (`dialog.py`, or `common` for desktop/cli/)."""
    listed: set[str] = set()
    unknown: set[str] = set()
    existing = modules()
    for where, what in architecture_rows():
        names = re.findall(r"`([^`]+)`", where)
        folder = names[0] if names[0].endswith("/") else names[0].rsplit("/", 1)[0] + "/"
        for name in names:
            path = name if name.startswith("desktop/") else folder + name
            if path.endswith("/"):
                if not (ROOT / path).is_dir():
                    unknown.add(path)
                for word in re.findall(r"`([A-Za-z_][\w]*(?:\.py)?)`", what):
                    candidate = path + (word if word.endswith(".py") else word + ".py")
                    if candidate in existing:
                        listed.add(candidate)
                    elif word.endswith(".py"):
                        unknown.add(candidate)
            elif path in existing or (ROOT / path).is_file():
                listed.add(path)
            else:
                unknown.add(path)
    return listed, unknown


def test_the_readme_architecture_names_every_module_and_no_other() -> None:
    listed, unknown = listed_in_readme()
    assert not unknown, f"README.md's Architecture section names what does not exist: {sorted(unknown)}"
    missing = sorted(modules() - listed)
    assert not missing, f"README.md's Architecture section does not name: {missing}"


def test_the_ml_package_lists_its_modules() -> None:
    doc = desktop.ml.__doc__ or ""
    listed = set()
    for line in doc.splitlines():
        match = re.match(r"^    ([a-z_]+(?:, [a-z_]+)*)\s{2,}\S", line)
        if match:
            listed.update(match.group(1).split(", "))
    actual = {path.stem for path in Path(desktop.ml.__path__[0]).glob("*.py") if path.stem not in NOT_LISTED}
    assert sorted(listed - actual) == [], "desktop/ml/__init__.py lists modules that do not exist"
    assert sorted(actual - listed) == [], "desktop/ml/__init__.py does not list these modules"
