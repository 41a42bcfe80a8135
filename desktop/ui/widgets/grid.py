"""The virtualised thumbnail grid: a QListView in icon mode painted by a delegate."""

from __future__ import annotations

from PySide6.QtCore import (
    QItemSelection,
    QItemSelectionModel,
    QModelIndex,
    QPersistentModelIndex,
    QRect,
    QSize,
    Qt,
    QTimer,
    Signal,
)
from PySide6.QtGui import QColor, QFont, QFontMetrics, QPainter, QPainterPath, QPalette, QPen
from PySide6.QtWidgets import QAbstractItemView, QListView, QStyle, QStyledItemDelegate, QStyleOptionViewItem

from desktop.ui.models.images import Role

PADDING = 6
CAPTION_HEIGHT = 22
# Duplicate groups, one colour each in turn: neighbouring groups always differ.
GROUP_COLOURS = ("#2563EB", "#D97706", "#059669", "#DB2777", "#7C3AED", "#0891B2")


def group_colour(number: int) -> QColor:
    return QColor(GROUP_COLOURS[(number - 1) % len(GROUP_COLOURS)])


def group_text(group) -> str:
    """The strip on a grouped tile: "Group 3 · keep" on the suggested keeper, "Group 3" on the others."""
    return f"Group {group.number} · keep" if group.keeper else f"Group {group.number}"


def readable_text_colour(background: QColor) -> QColor:
    return QColor("#111111") if background.lightnessF() > 0.6 else QColor("#ffffff")


def pill_text(name: str, confidence: float, metrics: QFontMetrics, width: int) -> str:
    """The class name elided to make room, the percentage always whole; under a few letters, the percentage
    alone (the pill's dot gives the class by its colour)."""
    percent = f"{confidence:.0%}"
    room = width - metrics.horizontalAdvance(" " + percent)
    if room < metrics.horizontalAdvance("Mmm…"):
        return percent
    return f"{metrics.elidedText(name, Qt.TextElideMode.ElideRight, room)} {percent}"


class ThumbnailDelegate(QStyledItemDelegate):
    def __init__(self, parent=None, tile: int = 150) -> None:
        super().__init__(parent)
        self.tile = tile

    def sizeHint(self, option: QStyleOptionViewItem, index: QModelIndex | QPersistentModelIndex) -> QSize:
        return QSize(self.tile + 2 * PADDING, self.tile + CAPTION_HEIGHT + 2 * PADDING)

    def paint(self, painter: QPainter, option: QStyleOptionViewItem, index: QModelIndex | QPersistentModelIndex):
        painter.save()
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        palette = option.palette
        rect = option.rect.adjusted(2, 2, -2, -2)
        selected = bool(option.state & QStyle.StateFlag.State_Selected)
        current = bool(option.state & QStyle.StateFlag.State_HasFocus)
        group = index.data(Role.GROUP)
        if group is not None:  # the group's tint behind the tile, its colour along the left edge
            tint = group_colour(group.number)
            tint.setAlpha(40)
            painter.setPen(Qt.PenStyle.NoPen)
            painter.setBrush(tint)
            painter.drawRoundedRect(rect, 8, 8)
        if selected:
            painter.setPen(Qt.PenStyle.NoPen)
            painter.setBrush(palette.color(QPalette.ColorRole.Highlight).lighter(160))
            painter.drawRoundedRect(rect, 8, 8)
        if group is not None:
            painter.setBrush(group_colour(group.number))
            painter.drawRoundedRect(QRect(rect.x(), rect.y() + 4, 4, rect.height() - 8), 2, 2)

        area = QRect(rect.x() + PADDING - 2, rect.y() + PADDING - 2, self.tile, self.tile)
        image = index.data(Role.THUMBNAIL)
        if image is not None and not image.isNull():
            scaled = image.size().scaled(area.size(), Qt.AspectRatioMode.KeepAspectRatio)
            target = QRect(0, 0, scaled.width(), scaled.height())
            target.moveCenter(area.center())
            clip = QPainterPath()
            clip.addRoundedRect(target, 4, 4)
            painter.setClipPath(clip)
            painter.drawImage(target, image)
            painter.setClipping(False)
        else:
            painter.setPen(Qt.PenStyle.NoPen)
            painter.setBrush(palette.color(QPalette.ColorRole.AlternateBase))
            painter.drawRoundedRect(area.adjusted(12, 12, -12, -12), 6, 6)
            row = index.data(Role.ROW)
            if row is not None and (row.error or row.missing):
                painter.setPen(QColor("#B3261E"))
                painter.drawText(area, Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap,
                                 "missing" if row.missing else "cannot read")

        predicted = index.data(Role.PREDICTION)
        if predicted is not None:
            self._paint_prediction(painter, area, predicted, option)
        badge = index.data(Role.BADGE)
        if badge:
            self._paint_badge(painter, area, badge, option)
        elif group is not None:
            self._paint_badge(painter, area, group_text(group), option, group_colour(group.number), group.keeper)

        caption = QRect(rect.x() + PADDING - 2, area.bottom() + 4, self.tile, CAPTION_HEIGHT - 4)
        label = index.data(Role.LABEL)
        font = QFont(option.font)
        font.setPointSizeF(max(7.0, font.pointSizeF() - 1))
        painter.setFont(font)
        if label is not None:
            colour = QColor(label.colour)
            painter.setPen(Qt.PenStyle.NoPen)
            painter.setBrush(colour)
            painter.drawRoundedRect(caption, caption.height() / 2, caption.height() / 2)
            painter.setPen(readable_text_colour(colour))
            text = painter.fontMetrics().elidedText(label.name, Qt.TextElideMode.ElideRight, caption.width() - 12)
            painter.drawText(caption, Qt.AlignmentFlag.AlignCenter, text)
        else:
            painter.setPen(palette.color(QPalette.ColorRole.PlaceholderText))
            name = index.data(Qt.ItemDataRole.DisplayRole) or ""
            text = painter.fontMetrics().elidedText(name, Qt.TextElideMode.ElideMiddle, caption.width())
            painter.drawText(caption, Qt.AlignmentFlag.AlignCenter, text)
        if current:
            painter.setPen(QPen(palette.color(QPalette.ColorRole.Highlight), 2))
            painter.setBrush(Qt.BrushStyle.NoBrush)
            painter.drawRoundedRect(rect.adjusted(1, 1, -1, -1), 8, 8)
        painter.restore()


    @staticmethod
    def _paint_prediction(painter: QPainter, area: QRect, predicted, option) -> None:
        """A pill in the thumbnail's corner: the predicted class's colour, its name and confidence."""
        font = QFont(option.font)
        font.setPointSizeF(max(7.0, font.pointSizeF() - 1.5))
        painter.setFont(font)
        metrics = painter.fontMetrics()
        text = pill_text(predicted.name, predicted.confidence, metrics, area.width() - 24)
        pill = QRect(area.x() + 4, area.y() + 4, metrics.horizontalAdvance(text) + 20, metrics.height() + 4)
        painter.setPen(QPen(QColor("#B3261E"), 2) if predicted.disagrees else Qt.PenStyle.NoPen)
        painter.setBrush(QColor(255, 255, 255, 225))
        painter.drawRoundedRect(pill, pill.height() / 2, pill.height() / 2)
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(QColor(predicted.colour))
        painter.drawEllipse(QRect(pill.x() + 6, pill.center().y() - 3, 7, 7))
        painter.setPen(QColor("#1F2328"))
        painter.drawText(pill.adjusted(16, 0, -4, 0), Qt.AlignmentFlag.AlignVCenter, text)


    @staticmethod
    def _paint_badge(painter: QPainter, area: QRect, text: str, option, colour: QColor | None = None,
                     bold: bool = False) -> None:
        """Why the view shows this photo, on a strip along the thumbnail's bottom edge (dark, or a group's
        colour)."""
        font = QFont(option.font)
        font.setPointSizeF(max(7.0, font.pointSizeF() - 1.5))
        font.setBold(bold)
        painter.setFont(font)
        metrics = painter.fontMetrics()
        strip = QRect(area.x() + 4, area.bottom() - metrics.height() - 7, area.width() - 8, metrics.height() + 4)
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(colour if colour is not None else QColor(20, 22, 26, 200))
        painter.drawRoundedRect(strip, 4, 4)
        painter.setPen(readable_text_colour(colour) if colour is not None else QColor("#FFFFFF"))
        painter.drawText(strip.adjusted(6, 0, -6, 0), Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignLeft,
                         metrics.elidedText(text, Qt.TextElideMode.ElideRight, strip.width() - 12))


class ThumbnailGrid(QListView):
    """Icon-mode list with uniform item sizes: Qt lays out and paints only the visible tiles."""

    empty_action_requested = Signal()

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.delegate = ThumbnailDelegate(self)
        self.setItemDelegate(self.delegate)
        self.setViewMode(QListView.ViewMode.IconMode)
        self.setResizeMode(QListView.ResizeMode.Adjust)
        self.setMovement(QListView.Movement.Static)
        self.setUniformItemSizes(True)
        self.setLayoutMode(QListView.LayoutMode.Batched)
        self.setBatchSize(2000)
        self.setSpacing(2)
        self.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.setVerticalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.verticalScrollBar().setSingleStep(24)
        self.setMouseTracking(True)
        self.setObjectName("thumbnailGrid")
        self.preferred_tile = self.delegate.tile
        self.empty_title = ""
        self.empty_hint = ""

    def setModel(self, model) -> None:
        super().setModel(model)
        self._pending_selection: list[int] = []
        self._model_loading = False
        model.loading_changed.connect(self._on_loading_changed)

    def select_ids(self, image_ids: list[int]) -> None:
        """Select these photos (the ones shown), the first one current; when the grid is loading a new view,
        once it has loaded."""
        if self._model_loading:
            self._pending_selection = list(image_ids)
            return
        model = self.model()
        rows = [row for row in (model.row_of(image_id) for image_id in image_ids) if row is not None]
        if not rows:
            return
        selection = QItemSelection()
        for row in rows:
            selection.select(model.index(row), model.index(row))
        self.selectionModel().setCurrentIndex(model.index(rows[0]), QItemSelectionModel.SelectionFlag.NoUpdate)
        self.selectionModel().select(selection, QItemSelectionModel.SelectionFlag.ClearAndSelect)
        self.scrollTo(model.index(rows[0]))

    def _on_loading_changed(self, loading: bool) -> None:
        self._model_loading = loading
        if not loading and self._pending_selection:
            ids, self._pending_selection = self._pending_selection, []
            # After every reset handler (the window puts the current photo back first), then select.
            QTimer.singleShot(0, lambda: self.select_ids(ids))

    def selected_ids(self) -> list[int]:
        model = self.model()
        return [model.row_at(index.row()).id for index in self.selectionModel().selectedIndexes()]

    def set_empty_text(self, title: str, hint: str) -> None:
        self.empty_title, self.empty_hint = title, hint
        self.viewport().update()

    def set_tile_size(self, tile: int) -> None:
        self.preferred_tile = max(64, min(320, tile))
        self._fit_tiles()

    def zoom_by(self, delta: int) -> None:
        self.set_tile_size(self.preferred_tile + delta)

    def _fit_tiles(self) -> None:
        """Stretch tiles slightly so whole columns fill the width instead of leaving a ragged gap."""
        cell = self.preferred_tile + 2 * PADDING + 2 * self.spacing()
        width = self.viewport().width() - 2 * self.spacing()
        columns = max(1, width // cell)
        self.delegate.tile = max(self.preferred_tile, width // columns - 2 * PADDING - 2 * self.spacing())
        self.scheduleDelayedItemsLayout()

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        self._fit_tiles()

    def wheelEvent(self, event) -> None:
        if event.modifiers() & Qt.KeyboardModifier.ControlModifier:  # Ctrl+wheel zooms the tiles
            self.zoom_by(16 if event.angleDelta().y() > 0 else -16)
            event.accept()
            return
        super().wheelEvent(event)

    def paintEvent(self, event) -> None:
        super().paintEvent(event)
        model = self.model()
        title, hint = self.empty_title, self.empty_hint
        if model is not None and model.load_error:  # the view could not be listed: say so, not "nothing here"
            title, hint = "The photos could not be listed", f"{model.load_error.rstrip('.')}. Choose the view again."
        if model is not None and model.rowCount() == 0 and title:
            painter = QPainter(self.viewport())
            rect = self.viewport().rect().adjusted(40, 0, -40, 0)
            title_font = QFont(self.font())
            title_font.setPointSizeF(self.font().pointSizeF() * 1.5)
            title_font.setBold(True)
            painter.setFont(title_font)
            painter.setPen(self.palette().color(QPalette.ColorRole.Text))
            title_rect = QRect(rect.x(), rect.center().y() - 60, rect.width(), 40)
            painter.drawText(title_rect, Qt.AlignmentFlag.AlignCenter, title)
            painter.setFont(self.font())
            painter.setPen(self.palette().color(QPalette.ColorRole.PlaceholderText))
            hint_rect = QRect(rect.x(), rect.center().y() - 16, rect.width(), 80)
            painter.drawText(hint_rect, Qt.AlignmentFlag.AlignHCenter | Qt.TextFlag.TextWordWrap, hint)
            painter.end()
