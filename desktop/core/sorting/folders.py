"""The project's folders, to find which one holds a path: where a photo the sort moves belongs in the project
(the deepest folder, when folders nest). Read by the plan (names already used), the journal (repointing moved
photos) and the steps (a folder to re-create on undo)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from desktop.db.models import Folder


class ProjectFolders:
    """The project's folders, to find which one holds a path (the deepest one, when folders nest)."""

    def __init__(self, rows: Sequence[tuple[int, str]]) -> None:
        self._roots = [(Path(root), folder_id) for folder_id, root in rows]
        self._roots.sort(key=lambda item: len(item[0].parts), reverse=True)

    @classmethod
    def load(cls, session: Session) -> ProjectFolders:
        return cls([(folder_id, root) for folder_id, root in session.execute(select(Folder.id, Folder.root))])

    def add(self, folder_id: int, root: Path) -> None:
        self._roots.append((root, folder_id))
        self._roots.sort(key=lambda item: len(item[0].parts), reverse=True)

    def owner(self, path: Path) -> tuple[int, str] | None:
        return next(iter(self.owners(path)), None)

    def owners(self, path: Path) -> list[tuple[int, str]]:
        """Every folder holding ``path`` (nested project folders), deepest first, with the relative path."""
        return [(folder_id, path.relative_to(root).as_posix()) for root, folder_id in self._roots
                if path != root and path.is_relative_to(root)]

    def root_of(self, path: Path) -> Path | None:
        return next((root for root, _folder_id in self._roots if path != root and path.is_relative_to(root)), None)

    def touching(self, destination: Path) -> list[tuple[int, Path]]:
        return [(folder_id, root) for root, folder_id in self._roots
                if root.is_relative_to(destination) or destination.is_relative_to(root)]


def levels_below(destination: Path, folder: Path) -> list[Path]:
    """``folder`` and each folder between it and ``destination``, the highest first (a sort's class folder is one
    level; duplicates moved aside keep their folder structure, several)."""
    if folder == destination or not folder.is_relative_to(destination):
        return [folder]
    parts = folder.relative_to(destination).parts
    return [destination.joinpath(*parts[:depth]) for depth in range(1, len(parts) + 1)]
