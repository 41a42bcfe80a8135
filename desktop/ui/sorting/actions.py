"""What the sort's windows (the unfinished-sort banner, the history) ask of the sort controller: typed as a
Protocol, so they need not import the controller that builds them."""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from PySide6.QtCore import SignalInstance
    from PySide6.QtWidgets import QWidget

    from desktop.ui.context import ProjectContext


class SortActions(Protocol):
    """``desktop.ui.sorting.controller.SortController`` is one."""

    context: ProjectContext
    history_changed: SignalInstance  # a sort, resume or undo started or finished

    @property
    def busy(self) -> bool: ...

    def undo(self, sort_id: int | None, parent: QWidget | None = None, confirm: bool = True) -> bool: ...

    def resume(self, sort_id: int, parent: QWidget | None = None) -> bool: ...
