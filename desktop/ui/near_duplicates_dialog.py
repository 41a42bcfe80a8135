"""Model ▸ Resolve Near Duplicates…: the one question before the preview — how alike two photos must be to count
as the same picture, and which copy of each group stays. ``ui.duplicate_resolving`` does the rest (the plan in a
worker, one sentence to confirm, the move aside that Sort ▸ Undo Last Sort puts back)."""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtWidgets import QComboBox, QDialog, QDialogButtonBox, QDoubleSpinBox, QFormLayout, QLabel, QWidget

from desktop.core.duplicate_resolving import DEFAULT_KEEPER, KEEPER_RULES
from desktop.ml.grouping import NEAR_DUPLICATE_SIMILARITY

# The core's keeper rules in plain words, in its order (``folder:PATH`` stays with the command line).
KEEPER_WORDS = {
    "labelled": "A labelled copy, else the largest",
    "largest": "The largest (most pixels)",
    "sharpest": "The sharpest",
    "oldest": "The oldest file",
}
MIN_SIMILARITY, MAX_SIMILARITY = 0.80, 0.999


@dataclass(frozen=True)
class NearChoice:
    similarity: float
    keeper_rule: str


class NearDuplicatesDialog(QDialog):
    def __init__(self, parent: QWidget | None = None, similarity: float = NEAR_DUPLICATE_SIMILARITY) -> None:
        super().__init__(parent)
        self.setWindowTitle("Resolve Near Duplicates")
        intro = QLabel("Photos at least this alike count as one picture: one copy of each group stays, the others "
                       "move aside into a folder after a preview. Sort ▸ Undo Last Sort puts them back.")
        intro.setWordWrap(True)
        self.similarity = QDoubleSpinBox()
        self.similarity.setRange(MIN_SIMILARITY, MAX_SIMILARITY)
        self.similarity.setDecimals(3)
        self.similarity.setSingleStep(0.005)
        self.similarity.setValue(similarity)
        self.similarity.setToolTip("1.000 would be identical files only; lower values also group photos that "
                                   "differ more (re-saved, resized, a burst's next shot)")
        self.keeper = QComboBox()
        for rule in KEEPER_RULES:
            self.keeper.addItem(KEEPER_WORDS.get(rule, rule), rule)
        self.keeper.setCurrentIndex(max(0, self.keeper.findData(DEFAULT_KEEPER)))
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel)
        buttons.addButton("Preview…", QDialogButtonBox.ButtonRole.AcceptRole).setDefault(True)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        form = QFormLayout(self)
        form.addRow(intro)
        form.addRow("Similarity at least:", self.similarity)
        form.addRow("Keep in each group:", self.keeper)
        form.addRow(buttons)
        self.setMinimumWidth(420)
        self.setMaximumWidth(560)

    def choice(self) -> NearChoice:
        return NearChoice(round(self.similarity.value(), 3), self.keeper.currentData())

    @classmethod
    def ask(cls, parent: QWidget | None) -> NearChoice | None:
        """The user's choice, or None when they cancel."""
        dialog = cls(parent)
        return dialog.choice() if dialog.exec() == QDialog.DialogCode.Accepted else None
