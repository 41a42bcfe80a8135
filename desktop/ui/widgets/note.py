"""A coloured note (information, success, warning, error): rich text that wraps, so a long note takes height, never
width, and hidden while it has nothing to say; ``wrapping`` makes any label behave so, and ``vertical_scroll`` a
whole column (it scrolls down, never sideways); ``hint``, a grey explanation that wraps."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFrame, QLabel, QScrollArea, QSizePolicy, QWidget

NOTE_STYLES = {
    "info": "background: #EEF2FF; color: #1E3A8A; border: 1px solid #C7D2FE;",
    "ok": "background: #ECFDF3; color: #14532D; border: 1px solid #BBF7D0;",
    "warn": "background: #FFFBEB; color: #78350F; border: 1px solid #FDE68A;",
    "error": "background: #FEF2F2; color: #7F1D1D; border: 1px solid #FECACA;",
}


def vertical_scroll(content: QWidget) -> QScrollArea:
    """``content`` in a frameless scroll area that follows its width and scrolls only down."""
    scroll = QScrollArea()
    scroll.setWidget(content)
    scroll.setWidgetResizable(True)
    scroll.setFrameShape(QFrame.Shape.NoFrame)
    scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
    return scroll


def wrapping(label: QLabel) -> QLabel:
    """The label wraps at whatever width its layout gives it and takes the height that needs: a long word or path
    never widens the window, and no line is cut."""
    label.setWordWrap(True)
    # Preferred, not Minimum, height: its minimum would be the height of a narrow guess (a scroll area below a
    # long note would scroll past empty space); its layout gives it heightForWidth at its real width.
    policy = QSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
    policy.setHeightForWidth(True)  # what setWordWrap set, and a new policy would drop
    label.setSizePolicy(policy)
    return label


def hint(text: str = "") -> QLabel:
    """A grey explanation under what it explains (the style sheet's ``#hint``), wrapped to its layout's width."""
    label = QLabel(text)
    label.setObjectName("hint")
    label.setWordWrap(True)
    return label


def note(kind: str = "info") -> QLabel:
    label = wrapping(QLabel())
    label.setTextFormat(Qt.TextFormat.RichText)
    label.setTextInteractionFlags(Qt.TextInteractionFlag.TextBrowserInteraction)
    label.setOpenExternalLinks(False)
    set_note(label, "", kind)
    return label


def set_note(label: QLabel, text: str, kind: str = "info") -> None:
    label.setProperty("kind", kind)
    label.setStyleSheet(f"QLabel {{ {NOTE_STYLES[kind]} border-radius: 6px; padding: 8px 10px; }}")
    label.setText(text)
    label.setVisible(bool(text))
