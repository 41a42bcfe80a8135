"""The theme: a disabled control must look disabled (the palette once painted disabled text as dark as enabled)."""

from __future__ import annotations

import pytest
from PySide6.QtGui import QColor, QImage, QPalette
from PySide6.QtWidgets import QPushButton, QStyleFactory

from desktop.ui.style import STYLE_SHEET, light_palette

pytestmark = pytest.mark.gui


def _darkest(image: QImage) -> int:
    """The lowest lightness in the image: the button's text."""
    return min(QColor(image.pixel(x, y)).lightness() for x in range(image.width()) for y in range(image.height()))


@pytest.mark.parametrize("primary", [False, True], ids=["button", "primary button"])
def test_a_disabled_button_looks_disabled(qtbot, primary: bool) -> None:
    """Rendered as the app renders it (Fusion, the theme's palette and style sheet), not only as the palette says."""
    fusion = QStyleFactory.create("Fusion")
    images = []
    for enabled in (True, False):
        button = QPushButton("Resume")
        qtbot.addWidget(button)
        if primary:
            button.setObjectName("primary")
        button.setStyle(fusion)
        button.setPalette(light_palette())
        button.setStyleSheet(STYLE_SHEET)
        button.setEnabled(enabled)
        button.resize(120, 32)
        images.append(button.grab().toImage())
    enabled_image, disabled_image = images
    assert enabled_image != disabled_image
    if not primary:  # dark text on white, grey when disabled
        assert _darkest(disabled_image) >= _darkest(enabled_image) + 60


def test_every_text_role_is_grey_when_disabled() -> None:
    palette = light_palette()
    for role in (QPalette.ColorRole.Text, QPalette.ColorRole.WindowText, QPalette.ColorRole.ButtonText):
        active = palette.color(QPalette.ColorGroup.Active, role).lightness()
        disabled = palette.color(QPalette.ColorGroup.Disabled, role).lightness()
        assert disabled >= active + 80, role
