"""One calm light theme: Fusion with a tuned palette and a short style sheet."""

from __future__ import annotations

from PySide6.QtGui import QColor, QFont, QPalette
from PySide6.QtWidgets import QApplication

ACCENT = "#2F6FEB"
DISABLED_TEXT = "#A0A6AF"  # grey enough to read as "not now", dark enough to read

STYLE_SHEET = f"""
QMainWindow {{ background: #F4F5F7; }}
#sidebar {{ background: #ECEEF2; border-right: 1px solid #DADDE3; }}
#sidebar QListView {{ background: transparent; }}
#sidebar QScrollArea, #sidebar #qt_scrollarea_viewport, #sidebarContent {{ background: transparent; }}
#sectionTitle {{ color: #6B7280; font-size: 11px; font-weight: 600; letter-spacing: 1px; }}
#hint {{ color: #6B7280; padding: 4px 12px 8px 12px; }}
#thumbnailGrid {{ background: #FFFFFF; border: none; }}
#previewPanel {{ background: #FAFBFC; border-left: 1px solid #DADDE3; }}
#previewTitle {{ font-size: 14px; }}
#previewDetails {{ color: #6B7280; }}
#labelChip {{ border-radius: 12px; padding: 5px 12px; font-weight: 600; background: #E5E7EB; color: #374151; }}
QToolBar {{ background: #FFFFFF; border-bottom: 1px solid #DADDE3; spacing: 6px; padding: 4px 8px; }}
QToolBar QToolButton {{ padding: 5px 10px; border-radius: 6px; }}
QToolBar QToolButton:hover {{ background: #EEF2FF; }}
QToolButton#addClassButton, #sidebar QToolButton {{ color: {ACCENT}; border: none; padding: 2px 6px; }}
QStatusBar {{ background: #FFFFFF; border-top: 1px solid #DADDE3; }}
QPushButton#primary {{ background: {ACCENT}; color: white; border: none; border-radius: 6px; padding: 7px 16px;
                      font-weight: 600; }}
QPushButton#primary:hover {{ background: #1F5FD8; }}
QPushButton#primary:disabled {{ background: #AFC6F7; color: #F4F6FB; }}
"""


def light_palette() -> QPalette:
    """The theme's colours; disabled text is grey."""
    palette = QPalette()
    palette.setColor(QPalette.ColorRole.Window, QColor("#F4F5F7"))
    palette.setColor(QPalette.ColorRole.Base, QColor("#FFFFFF"))
    palette.setColor(QPalette.ColorRole.AlternateBase, QColor("#F1F3F6"))
    palette.setColor(QPalette.ColorRole.Text, QColor("#1F2328"))
    palette.setColor(QPalette.ColorRole.WindowText, QColor("#1F2328"))
    palette.setColor(QPalette.ColorRole.ButtonText, QColor("#1F2328"))
    palette.setColor(QPalette.ColorRole.Button, QColor("#FFFFFF"))
    palette.setColor(QPalette.ColorRole.Highlight, QColor(ACCENT))
    palette.setColor(QPalette.ColorRole.HighlightedText, QColor("#FFFFFF"))
    palette.setColor(QPalette.ColorRole.PlaceholderText, QColor("#8A919C"))
    palette.setColor(QPalette.ColorRole.Mid, QColor("#C9CDD4"))
    # setColor(role, …) paints every colour group, the disabled one too: without these a disabled button or menu
    # item looked exactly like an enabled one.
    disabled = QPalette.ColorGroup.Disabled
    for role in (QPalette.ColorRole.Text, QPalette.ColorRole.WindowText, QPalette.ColorRole.ButtonText):
        palette.setColor(disabled, role, QColor(DISABLED_TEXT))
    palette.setColor(disabled, QPalette.ColorRole.Button, QColor("#F4F5F7"))
    palette.setColor(disabled, QPalette.ColorRole.Highlight, QColor("#C9CDD4"))
    return palette


def apply_style(app: QApplication) -> None:
    app.setStyle("Fusion")
    app.setPalette(light_palette())
    font = QFont(app.font())
    font.setPointSizeF(max(font.pointSizeF(), 10.0))
    app.setFont(font)
    app.setStyleSheet(STYLE_SHEET)
