"""The status bar's quiet note that a sort did not finish, with Resume and Undo at hand."""

from __future__ import annotations

from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QToolButton

from desktop.core.sorting import SortStatus, SortSummary
from desktop.ui.sorting.actions import SortActions
from desktop.ui.sorting.text import ing


class InterruptedBanner(QFrame):
    """A quiet bar in the status bar: a sort did not finish; resume or undo it, or leave it for later."""

    def __init__(self, controller: SortActions, parent=None) -> None:
        super().__init__(parent)
        self.controller = controller
        self.sort_id: int | None = None
        self.setObjectName("sortBanner")
        self.setStyleSheet("#sortBanner { background: #FFFBEB; border: 1px solid #FDE68A; border-radius: 6px; }"
                           "#sortBanner QLabel { color: #78350F; }"
                           "#sortBanner QToolButton { color: #92400E; border: none; padding: 1px 6px; "
                           "font-weight: 600; }")
        self.text = QLabel("")
        self.resume_button = QToolButton(text="Resume")
        self.undo_button = QToolButton(text="Undo")
        self.dismiss_button = QToolButton(text="✕")
        self.dismiss_button.setToolTip("Later (Sort ▸ Sort History)")
        self.resume_button.clicked.connect(lambda: self.sort_id and controller.resume(self.sort_id))
        self.undo_button.clicked.connect(lambda: self.sort_id and controller.undo(self.sort_id))
        self.dismiss_button.clicked.connect(self.hide)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(8, 1, 4, 1)
        layout.setSpacing(4)
        layout.addWidget(self.text)
        layout.addWidget(self.resume_button)
        layout.addWidget(self.undo_button)
        layout.addWidget(self.dismiss_button)
        self.hide()

    def show_sorts(self, sorts: list[SortSummary]) -> None:
        if not sorts:
            self.sort_id = None
            self.hide()
            return
        sort = sorts[0]
        self.sort_id = sort.id
        others = f" (and {len(sorts) - 1} more)" if len(sorts) > 1 else ""
        undoing = sort.status == SortStatus.UNDOING
        what = "Undoing" if undoing else ing(sort.mode)
        self.text.setText(f"{what} sort #{sort.id} did not finish: {sort.done:,} of {sort.total:,} done{others}.")
        self.resume_button.setVisible(not undoing)
        self.undo_button.setText("Finish undo" if undoing else "Undo")
        self.show()
