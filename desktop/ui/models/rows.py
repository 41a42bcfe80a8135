"""What every flat Qt model of the app shares, list or table: its rows in order, replaced whole (``set_rows``
resets the model), the row behind an index and the row count. ``ListModel`` is it for a list view: a subclass
says what a row shows for each role (``ROLES``, or ``cell`` where it computes), and ``rows_changed`` repaints
every row in place (selection and scroll position stay). ``table.TableModel`` is it with columns."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, ClassVar, Generic, TypeVar

from PySide6.QtCore import QAbstractListModel, QModelIndex, QPersistentModelIndex, Qt

RowT = TypeVar("RowT")
Index = QModelIndex | QPersistentModelIndex
Roles = Mapping[int, Callable[[Any], Any]]  # role -> what a row shows for it


class RowsModel(Generic[RowT]):
    """Mixed in before a QAbstractItemModel class, whose ``__init__`` sets ``_rows``."""

    _rows: list[RowT]

    @property
    def rows(self) -> Sequence[RowT]:
        return tuple(self._rows)

    def set_rows(self, rows: Iterable[RowT]) -> None:
        self.beginResetModel()
        self._rows = list(rows)
        self.endResetModel()

    def row(self, index: Index) -> RowT | None:
        """The row behind ``index`` of this model (a proxy's index: use the model's row role)."""
        if not index.isValid() or not 0 <= index.row() < len(self._rows):
            return None
        return self._rows[index.row()]

    def rowCount(self, parent: Index | None = None) -> int:
        return 0 if parent is not None and parent.isValid() else len(self._rows)


class ListModel(RowsModel[RowT], QAbstractListModel):
    """A list of ``RowT`` rows; a subclass says what a row shows in ``ROLES`` or, where it computes, in ``cell``."""

    ROLES: ClassVar[Roles] = {}

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self._rows = []

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole):
        row = self.row(index)
        return None if row is None else self.cell(row, role)

    def rows_changed(self, roles: Sequence[int] = ()) -> None:
        """Every row shows new values for ``roles`` (all roles when none are named): the same rows, in place."""
        if self._rows:
            self.dataChanged.emit(self.index(0), self.index(len(self._rows) - 1), list(roles))

    def cell(self, row: RowT, role: int) -> Any:
        """What ``row`` shows for ``role``; None for nothing."""
        show = self.ROLES.get(role)
        return None if show is None else show(row)
