"""Why a sort, resume or undo stops early, and the one table of what to tell the user then.

A stop is not a photo's failure (that photo alone is left where it is): the destination cannot take more files
(full, read-only, swapped for a link, gone), or the project's journal cannot be written. The run stops, reports,
and the user resumes (or undoes again) once the cause is gone; nothing is lost either way.
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path


class StopKind(StrEnum):
    PROJECT_FULL = "project full"  # the disk holding the project's database
    PROJECT_BUSY = "project busy"  # another program holds the database
    PROJECT_BROKEN = "project"  # the database cannot be written for another reason (``detail``)
    LINK = "link"  # the destination or a class folder was replaced by a link
    DESTINATION_FULL = "full"
    STUCK = "stuck"  # a move left a photo under two names (nothing lost; resume settles it)
    UNAVAILABLE = "unavailable"  # a folder or its drive went away
    UNWRITABLE = "unwritable"  # permission denied, read-only drive (``detail`` says which)


PROJECT_KINDS = frozenset({StopKind.PROJECT_FULL, StopKind.PROJECT_BUSY, StopKind.PROJECT_BROKEN})

# (what happened, what to do, then {again}). A cause that is a sentence of its own ends with a full stop.
# Placeholders: {where}, {detail}, {disk} ("disk" when undoing, "destination disk" when sorting).
_MESSAGES: dict[StopKind, tuple[str, str]] = {
    StopKind.PROJECT_FULL: ("The disk holding the project is full", "Free some space there, then {again}"),
    StopKind.PROJECT_BUSY: ("The project's database is busy with another program", "When it has finished, {again}"),
    StopKind.PROJECT_BROKEN: ("The project's database cannot be written ({detail})",
                              "Check the disk holding {where}, then {again}"),
    StopKind.LINK: ("The folder {where} was replaced by a link to another place", "Put the folder back, then {again}"),
    StopKind.DESTINATION_FULL: ("The {disk} is full", "Free some space, then {again}"),
    StopKind.STUCK: ("A photo moved into {where} could not be finished cleanly",
                     "Check the folder's permissions, then {again}"),
    StopKind.UNAVAILABLE: ("The folder {where} is not available any more (was its drive disconnected?)",
                           "Reconnect it, then {again}"),
    StopKind.UNWRITABLE: ("Cannot write to {where}: {detail}.", "Make the folder writable, then {again}"),
}


class Stop(Exception):
    """Stop the run (or undo) here and tell the user why: ``kind`` in :data:`_MESSAGES`. ``op_reason``: what the
    photo being handled is marked failed with (None: it is left as the journal says)."""

    def __init__(self, kind: StopKind, where: Path, op_reason: str | None = None, detail: str = "") -> None:
        super().__init__(kind.value)
        self.kind, self.where, self.op_reason, self.detail = kind, where, op_reason, detail

    def message(self, done: int, total: int, *, undo: bool = False) -> str:
        """The run stopped after ``done`` of ``total`` photos."""
        cause, remedy = self._words(self.kind, again="undo again" if undo else "resume",
                                    disk="disk" if undo else "destination disk")
        progress = f"{done} of {total} photos were {'put back' if undo else 'sorted'} and nothing was lost"
        return f"{cause} {progress}. {remedy}." if cause.endswith(".") else f"{cause}: {progress}. {remedy}."

    def not_started(self) -> str:
        """For a journal that could not take the plan: nothing was touched."""
        cause, remedy = self._words(self.kind if self.kind in PROJECT_KINDS else StopKind.PROJECT_BROKEN,
                                    again="sort again", disk="disk")
        return f"{cause}, so the sort was not started and no photo was touched. {remedy}."

    def _words(self, kind: StopKind, *, again: str, disk: str) -> tuple[str, str]:
        cause, remedy = _MESSAGES[kind]
        values = {"where": self.where, "detail": self.detail, "disk": disk, "again": again}
        return cause.format(**values), remedy.format(**values)
