"""Every keyboard shortcut in one table: the actions take their keys from it, F1 shows it (``ShortcutsDialog``, a
list that scrolls inside a window that fits the screen), and a test keeps the README's table equal to it."""

from __future__ import annotations

import html
from dataclasses import dataclass

from PySide6.QtCore import QSize
from PySide6.QtGui import QKeySequence
from PySide6.QtWidgets import QDialog, QDialogButtonBox, QTextBrowser, QVBoxLayout, QWidget

from desktop.ui.window_geometry import fit_dialog


@dataclass(frozen=True)
class Shortcut:
    shown: str  # how the key column reads (F1 and the README), e.g. "1 … 9" or "Ctrl+Z"
    does: str
    keys: tuple[str, ...] = ()  # the key sequences bound (portable text); empty where Qt's widgets handle them


SHORTCUTS: dict[str, Shortcut] = {
    "label": Shortcut("1 … 9", "label the selected photos with that class, then go to the next unlabelled photo "
                      "(of many, the ones with another label keep it until the key comes again)",
                      tuple("123456789")),
    "clear": Shortcut("0, Backspace", "clear the label of the selected photos", ("0", "Backspace")),
    "accept": Shortcut("A", "accept the model's prediction as the label, then go on (of many, as 1 … 9 do)",
                       ("A",)),
    "keep": Shortcut("K", "reviewing labels: keep this one and go to the next", ("K",)),
    "move": Shortcut("arrows, Shift+arrows", "move, extend the selection in the grid (after a click in the "
                     "sidebar too)"),
    "select_all": Shortcut("Ctrl+A", "select every photo shown", ("Ctrl+A",)),
    "undo": Shortcut("Ctrl+Z", "undo a label change", ("Ctrl+Z",)),
    "redo": Shortcut("Ctrl+Shift+Z, Ctrl+Y", "redo a label change", ("Ctrl+Shift+Z", "Ctrl+Y")),
    "add_folder": Shortcut("Ctrl+O", "add a folder of photos (or drop folders on the window)", ("Ctrl+O",)),
    "rescan": Shortcut("F5", "re-scan every folder: new, changed and missing photos", ("F5",)),
    "add_class": Shortcut("Ctrl+K", "add a class", ("Ctrl+K",)),
    "more_like_this": Shortcut("M", "more like this: the photos most like the current one, most alike first",
                               ("M",)),
    "select_similar": Shortcut("S", "select similar: add the photos most like the selected ones", ("S",)),
    "explain": Shortcut("G", "show or hide the heatmap: where the model sees its class", ("G",)),
    "train": Shortcut("Ctrl+T", "train (on the Train tab, where the curves grow)", ("Ctrl+T",)),
    "predict": Shortcut("Ctrl+P", "predict every photo with the active model (also runs after each training "
                        "and each import)", ("Ctrl+P",)),
    "stop": Shortcut("Esc", "stop a running prediction (the photos done keep their predictions)", ("Esc",)),
    "models": Shortcut("Ctrl+M", "model versions", ("Ctrl+M",)),
    "sort": Shortcut("Ctrl+Shift+S", "sort photos into class folders", ("Ctrl+Shift+S",)),
    "zoom": Shortcut("Ctrl+wheel, Ctrl++, Ctrl+-", "bigger or smaller thumbnails", ("Ctrl++", "Ctrl+-")),
    "new_project": Shortcut("Ctrl+N", "new project", ("Ctrl+N",)),
    "open_project": Shortcut("Ctrl+Shift+O", "open a project", ("Ctrl+Shift+O",)),
    "quit": Shortcut("Ctrl+Q", "quit", ("Ctrl+Q",)),
    "help": Shortcut("F1", "this list", ("F1",)),
}


def key_sequences(name: str) -> list[QKeySequence]:
    return [QKeySequence(key) for key in SHORTCUTS[name].keys]


def help_html() -> str:
    """The F1 dialog's table."""
    rows = "".join(f"<tr><td><b>{html.escape(s.shown)}</b></td>"
                   f"<td>{html.escape(s.does[0].upper() + s.does[1:])}</td></tr>" for s in SHORTCUTS.values())
    return f"<table cellpadding=4>{rows}</table>"


class ShortcutsDialog(QDialog):
    """F1: the table in a scrolling view, its Close button always on screen (a message box grew past it)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Keyboard shortcuts")
        self.table = QTextBrowser()
        self.table.setHtml(help_html())
        self.table.setMinimumSize(QSize(360, 200))
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(self.table, 1)
        layout.addWidget(buttons)
        fit_dialog(self, QSize(640, 680))
