"""What a sort plan will do, before it runs: ``PlanSummary`` (where they go: photos per class folder as bars, how
many by label and by prediction, the expected mistakes, and the plan's notes) and ``PlanTable`` (every planned
photo, with where it lands and why). Both only show a ``SortPlan``; the dialog decides when to plan.
"""

from __future__ import annotations

import html

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QAbstractItemView,
    QFrame,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from desktop.core.sorting import UNSURE, SortPlan, mistakes_sentence
from desktop.ui.sorting.models import ClassCountsModel, CountBarDelegate, SortPreviewModel
from desktop.ui.sorting.text import plural, verb
from desktop.ui.widgets.note import note, set_note, wrapping

COUNT_ROW_HEIGHT = 26


def section_title(text: str) -> QLabel:
    label = QLabel(text)
    label.setObjectName("sectionTitle")
    return label


class PlanSummary(QWidget):
    """WHERE THEY GO: bars per class folder, a summary in words, and the notes (which wrap, taking height)."""

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.counts = ClassCountsModel(self)
        self.counts_view = QTableView()
        self.counts_view.setModel(self.counts)
        self.counts_view.setItemDelegateForColumn(ClassCountsModel.BAR, CountBarDelegate(self.counts_view))
        self.counts_view.verticalHeader().hide()
        self.counts_view.horizontalHeader().hide()
        self.counts_view.setShowGrid(False)
        self.counts_view.setFrameShape(QFrame.Shape.NoFrame)
        self.counts_view.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        self.counts_view.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.counts_view.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.counts_view.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.counts_view.verticalHeader().setDefaultSectionSize(COUNT_ROW_HEIGHT)
        header = self.counts_view.horizontalHeader()
        header.setSectionResizeMode(ClassCountsModel.NAME, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(ClassCountsModel.COUNT, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(ClassCountsModel.BAR, QHeaderView.ResizeMode.Stretch)
        self.counts_view.setStyleSheet("QTableView { background: transparent; }")
        self.counts_view.setFixedHeight(COUNT_ROW_HEIGHT + 4)
        self.counts_summary = wrapping(QLabel(""))
        self.notice = note("warn")

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(10)
        layout.addWidget(section_title("WHERE THEY GO"))
        layout.addWidget(self.counts_summary)
        layout.addWidget(self.counts_view)
        layout.addWidget(self.notice)

    def show_plan(self, plan: SortPlan | None, colours: dict[str, str], has_model: bool) -> None:
        self.counts.set_counts(plan.per_class if plan else {}, colours)
        self.counts_view.setFixedHeight(max(1, self.counts.rowCount()) * COUNT_ROW_HEIGHT + 4)
        if plan is None:
            self.counts_summary.setText("")
            set_note(self.notice, "")
            return
        count = len(plan.photos)
        folders = len(plan.per_class)
        by_prediction = count - plan.from_labels - plan.below_threshold - plan.unpredicted
        parts = [f"{plan.from_labels:,} by their label" if plan.from_labels else "",
                 f"{by_prediction:,} by prediction" if by_prediction else "",
                 f"{plan.below_threshold + plan.unpredicted:,} to check" if plan.below_threshold + plan.unpredicted
                 else ""]
        detail = " · ".join(part for part in parts if part)
        unsure = plan.per_class.get(UNSURE, 0)
        outcome = f"{unsure:,} to {UNSURE}/" + (" (why: below)" if plan.advice else "")
        if by_prediction:
            outcome += " · " + mistakes_sentence(plan.expected_mistakes, plan.mistakes_range, by_prediction)
        self.counts_summary.setText(
            f"<b>{plural(count, 'photo')}</b> into {plural(folders, 'folder')}{_travelling(plan)}<br>"
            f"<span style='color:#6B7280'>{detail}</span><br>{outcome}" if count else
            "No photo to sort with these options.")
        self.counts_summary.setToolTip(
            "Expected mistakes: from how often the model's predictions at these confidences were right on labelled "
            "photos it had not seen (by precision), or from its calibrated confidence (by a threshold); "
            "\"likely\" is a 90 % range.")
        self._show_notes(plan, has_model)

    def _show_notes(self, plan: SortPlan, has_model: bool) -> None:
        notes: list[str] = []
        if plan.unpredicted and has_model:
            one = plan.unpredicted == 1
            notes.append(f"<b>{plural(plan.unpredicted, 'photo')} {'has' if one else 'have'} no prediction</b> from "
                         f"the active model yet, so {'it goes' if one else 'they go'} to {UNSURE}/. "
                         "Run Model ▸ Predict first.")
        notes.extend(html.escape(warning) for warning in plan.warnings)
        notes.extend(html.escape(line) for line in plan.advice.values())  # classes that kept many photos unsure
        unexplained = [name for name in plan.unreachable if name not in plan.advice]
        if unexplained:
            names = ", ".join(f"“{html.escape(name)}”" for name in unexplained)
            notes.append(f"No confidence of {names} reaches {plan.precision:.0%} on the model's held-out photos, so "
                         f"{'its' if len(unexplained) == 1 else 'their'} predicted photos go to {UNSURE}/. "
                         "Label more of them, or ask for a lower precision.")
        if plan.already_sorted:
            notes.append(f"{plural(plan.already_sorted, 'photo')} already in this destination's class folders "
                         "stay where they are.")
        if plan.skipped:
            reasons = "<br>".join(f"{html.escape(path.name)}: {html.escape(why)}" for path, why in plan.skipped[:3])
            more = f"<br>… and {len(plan.skipped) - 3} more" if len(plan.skipped) > 3 else ""
            notes.append(f"{plural(len(plan.skipped), 'photo')} cannot be sorted and stay where they are:<br>"
                         f"{reasons}{more}")
        set_note(self.notice, "<br><br>".join(notes), "warn")


def _travelling(plan: SortPlan) -> str:
    """The files that go with the photos (sidecars, RAW/JPEG twins), counted once in the summary."""
    return f" + {plural(plan.companions, 'companion file')} with them" if plan.companions else ""


class PlanTable(QWidget):
    """PREVIEW: every planned photo (its file, class folder, confidence, destination), and what the preview is
    doing (``state``: updating, or how many photos it shows)."""

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.model = SortPreviewModel(self)
        self.view = QTableView()
        self.view.setModel(self.model)
        self.view.verticalHeader().hide()
        self.view.verticalHeader().setDefaultSectionSize(24)
        self.view.setAlternatingRowColors(True)
        self.view.setShowGrid(False)
        self.view.setWordWrap(False)
        self.view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.view.setTextElideMode(Qt.TextElideMode.ElideMiddle)
        self.view.setMinimumSize(300, 120)
        header = self.view.horizontalHeader()
        header.setDefaultAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter)
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        header.setStretchLastSection(True)
        # New place, the last column, takes the rest: at 1024 px it keeps room for "class/name (2).jpg".
        for column, width in ((SortPreviewModel.PHOTO, 150), (SortPreviewModel.FOLDER, 100),
                              (SortPreviewModel.CONFIDENCE, 86)):
            self.view.setColumnWidth(column, width)
        self.state = QLabel("")
        self.state.setObjectName("hint")
        self.state.setStyleSheet("padding: 0;")

        title = QHBoxLayout()
        title.addWidget(section_title("PREVIEW"))
        title.addStretch(1)
        title.addWidget(self.state)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(6)
        layout.addLayout(title)
        layout.addWidget(self.view, 1)

    def show_plan(self, plan: SortPlan | None, colours: dict[str, str]) -> None:
        self.model.set_plan(plan, colours)
        self.state.setText(f"{plural(len(plan.photos), 'photo')}{_travelling(plan)} · {verb(plan.mode).lower()}"
                           if plan else "")
