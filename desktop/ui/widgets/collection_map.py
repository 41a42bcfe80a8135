"""The collection map's canvas: every photo as a dot at its 2-D position, coloured by a category, with a legend,
a thumbnail on hover and a lasso that selects the photos it encloses.

Smooth with 100,000 dots: the dots are rasterised with numpy into one cached QImage (rebuilt only when the
points, their colours, the selection or the size change), so a repaint is one image blit plus the lasso and the
hover card. Hover looks a dot up in a uniform grid of screen cells; the lasso fills its QPainterPath into a
mask image and reads the mask under every dot, so "inside" is exactly what the drawn lasso covers.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from PySide6.QtCore import QPoint, QPointF, QRect, QRectF, QSize, Qt, Signal
from PySide6.QtGui import QColor, QImage, QMouseEvent, QPainter, QPainterPath, QPaintEvent, QPalette, QPen
from PySide6.QtWidgets import QSizePolicy, QWidget

MARGIN = 16  # px between the outermost dots and the edge
DOT_RADIUS = 2.3
HOVER_RADIUS = 8.0  # px from a dot's centre that still counts as pointing at it
CELL = 16  # px side of the hover lookup's grid cells (>= 2 * HOVER_RADIUS: a 3x3 block of cells is enough)
CARD_THUMBNAIL = 128
UNKNOWN_COLOUR = "#B8BEC8"  # dots with no category (unlabelled, not predicted)
SELECTED_RING = "#1F2328"
LASSO_COLOUR = "#2F6FEB"


@dataclass(frozen=True)
class LegendEntry:
    name: str
    colour: str  # "#RRGGBB"


def _disk_offsets(radius: float) -> np.ndarray:
    span = int(np.ceil(radius))
    ys, xs = np.mgrid[-span : span + 1, -span : span + 1]
    inside = xs * xs + ys * ys <= radius * radius
    return np.stack([xs[inside], ys[inside]], axis=1)


_DOT = _disk_offsets(DOT_RADIUS)
_RING = _disk_offsets(DOT_RADIUS + 1.5)


def _argb(colour: str) -> int:
    return QColor(colour).rgba()  # 0xAARRGGBB, the layout of QImage.Format_ARGB32


def rasterise(size: QSize, positions: np.ndarray, colours: np.ndarray, background: int,
              selected: np.ndarray | None = None) -> QImage:
    """An ARGB32 image of ``size`` with a dot per row of ``positions`` (float pixel coordinates) in its ARGB
    colour; dots in ``selected`` (a boolean mask) get a dark ring and are drawn last, on top."""
    width, height = max(1, size.width()), max(1, size.height())
    pixels = np.full(height * width + 1, background, dtype=np.uint32)  # the last one takes what falls outside
    centres = np.rint(positions).astype(np.int32) if len(positions) else np.zeros((0, 2), np.int32)

    def stamp(which: np.ndarray, offsets: np.ndarray, values: np.ndarray) -> None:
        # Every (offset, dot) pixel in one assignment: numpy's fancy indexing is the whole cost.
        xs = centres[which, 0][None, :] + offsets[:, 0, None].astype(np.int32)
        ys = centres[which, 1][None, :] + offsets[:, 1, None].astype(np.int32)
        flat = np.where((xs >= 0) & (xs < width) & (ys >= 0) & (ys < height), ys * width + xs, height * width)
        pixels[flat.ravel()] = np.broadcast_to(values, flat.shape).ravel()

    everyone = np.ones(len(centres), bool) if selected is None else ~selected
    stamp(everyone, _DOT, colours[everyone])
    if selected is not None and selected.any():
        stamp(selected, _RING, np.full(int(selected.sum()), _argb(SELECTED_RING), np.uint32))
        stamp(selected, _DOT, colours[selected])
    pixels = pixels[:-1].reshape(height, width)
    image = QImage(pixels.data, width, height, width * 4, QImage.Format.Format_ARGB32)
    return image.copy()  # own the pixels: the numpy buffer goes away


class PointGrid:
    """Which dot is nearest a screen position: dots bucketed in square cells, a 3x3 block searched."""

    def __init__(self, positions: np.ndarray, cell: float = CELL) -> None:
        self.positions = positions
        self.cell = cell
        cells = np.floor(positions / cell).astype(np.int64) if len(positions) else np.zeros((0, 2), np.int64)
        self._columns = int(cells[:, 0].max()) + 3 if len(cells) else 1
        keys = (cells[:, 1] + 1) * self._columns + (cells[:, 0] + 1)
        self._order = np.argsort(keys, kind="stable")
        self._sorted_keys = keys[self._order]

    def nearest(self, x: float, y: float, radius: float = HOVER_RADIUS) -> int | None:
        """Index of the dot nearest (x, y) within ``radius`` px, or None."""
        if not len(self.positions):
            return None
        cx, cy = int(np.floor(x / self.cell)), int(np.floor(y / self.cell))
        wanted = [(cy + dy + 1) * self._columns + (cx + dx + 1) for dy in (-1, 0, 1) for dx in (-1, 0, 1)
                  if 0 <= cx + dx + 1 < self._columns]
        candidates = [self._order[np.searchsorted(self._sorted_keys, key):
                                  np.searchsorted(self._sorted_keys, key, side="right")] for key in wanted]
        found = np.concatenate(candidates) if candidates else np.zeros(0, np.int64)
        if not len(found):
            return None
        distances = np.hypot(self.positions[found, 0] - x, self.positions[found, 1] - y)
        best = int(np.argmin(distances))
        return int(found[best]) if distances[best] <= radius else None


def inside_path(path: QPainterPath, positions: np.ndarray, size: QSize) -> np.ndarray:
    """Boolean mask: which positions the filled ``path`` covers (its pixels, as drawn without antialiasing)."""
    width, height = max(1, size.width()), max(1, size.height())
    mask = QImage(width, height, QImage.Format.Format_Grayscale8)
    mask.fill(0)
    painter = QPainter(mask)
    painter.fillPath(path, QColor(255, 255, 255))
    painter.end()
    covered = np.frombuffer(mask.constBits(), np.uint8).reshape(height, mask.bytesPerLine())[:, :width]
    if not len(positions):
        return np.zeros(0, bool)
    xs, ys = np.floor(positions[:, 0]).astype(np.int64), np.floor(positions[:, 1]).astype(np.int64)
    on_screen = (xs >= 0) & (xs < width) & (ys >= 0) & (ys < height)
    result = np.zeros(len(positions), bool)
    result[on_screen] = covered[ys[on_screen], xs[on_screen]] > 0
    return result


class CollectionMapView(QWidget):
    """Dots for photos; hover shows the photo, a drag draws a lasso whose photos are emitted by id."""

    hovered = Signal(int)  # image id under the pointer, -1 for none
    lasso_selected = Signal(list)  # image ids inside the lasso just drawn

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("collectionMap")
        self.setMouseTracking(True)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setMinimumSize(240, 200)
        self.image_ids = np.zeros(0, np.int64)
        self._xy = np.zeros((0, 2), np.float32)  # the layout's coordinates, any scale
        self._categories = np.zeros(0, np.int64)  # index into the legend; -1 = none
        self.legend: list[LegendEntry] = []
        self.uncategorised = "Unlabelled"
        self._selected = np.zeros(0, bool)
        self._positions = np.zeros((0, 2), np.float32)  # pixel coordinates for the current size
        self._grid = PointGrid(self._positions)
        self._cache: QImage | None = None
        self._lasso: QPainterPath | None = None
        self._hover: int | None = None  # index of the dot under the pointer
        self._hover_at = QPoint()
        self.thumbnail_for: Callable[[int], QImage | None] = lambda _index: None
        self.caption_for: Callable[[int], str] = lambda _index: ""
        self.empty_text = "No map yet."

    # -- data ------------------------------------------------------------------------------------------
    def set_points(self, image_ids: np.ndarray, xy: np.ndarray, categories: np.ndarray,
                   legend: list[LegendEntry], uncategorised: str = "Unlabelled") -> None:
        self.image_ids = np.asarray(image_ids, np.int64)
        self._xy = np.asarray(xy, np.float32).reshape(-1, 2)
        self._selected = np.zeros(len(self.image_ids), bool)
        self._hover = None
        self.set_colouring(categories, legend, uncategorised)
        self._layout()

    def set_colouring(self, categories: np.ndarray, legend: list[LegendEntry],
                      uncategorised: str = "Unlabelled") -> None:
        """``categories``: an index into ``legend`` per dot, -1 for none (grey, and named ``uncategorised`` in the
        legend)."""
        self._categories = np.asarray(categories, np.int64)
        self.legend = list(legend)
        self.uncategorised = uncategorised
        self._invalidate()

    def select_ids(self, image_ids) -> None:
        self._selected = np.isin(self.image_ids, np.fromiter(image_ids, np.int64))
        self._invalidate()

    @property
    def selected_ids(self) -> list[int]:
        return self.image_ids[self._selected].tolist()

    def position_of(self, image_id: int) -> QPointF:
        """Where a photo's dot is drawn (widget coordinates), e.g. for tests driving the lasso."""
        index = int(np.flatnonzero(self.image_ids == image_id)[0])
        return QPointF(float(self._positions[index, 0]), float(self._positions[index, 1]))

    def category_counts(self) -> list[int]:
        counts = np.bincount(self._categories[self._categories >= 0], minlength=len(self.legend))
        return counts[: len(self.legend)].tolist()

    def legend_lines(self) -> list[tuple[str, str]]:
        """(colour, "name  count") per legend row, the grey dots last when there are any."""
        counts = self.category_counts()
        rows = [(entry.colour, f"{entry.name}  {count:,}") for entry, count in zip(self.legend, counts, strict=True)]
        grey = len(self._categories) - sum(counts)
        if grey:
            rows.append((UNKNOWN_COLOUR, f"{self.uncategorised}  {grey:,}"))
        return rows

    # -- layout and painting ---------------------------------------------------------------------------
    def _layout(self) -> None:
        """Scale the layout to the widget, keeping its aspect ratio, so distances read the same both ways."""
        if len(self._xy):
            low, high = self._xy.min(axis=0), self._xy.max(axis=0)
            span = np.maximum(high - low, 1e-9)
            room = np.array([max(1, self.width() - 2 * MARGIN), max(1, self.height() - 2 * MARGIN)], np.float32)
            scale = float(np.min(room / span))
            offset = (room - span * scale) / 2 + MARGIN
            self._positions = ((self._xy - low) * scale + offset).astype(np.float32)
            self._positions[:, 1] = self.height() - self._positions[:, 1]  # y up, as on a chart
        else:
            self._positions = np.zeros((0, 2), np.float32)
        self._grid = PointGrid(self._positions)
        self._invalidate()

    def _invalidate(self) -> None:
        self._cache = None
        self.update()

    def _colours(self) -> np.ndarray:
        palette = np.array([_argb(entry.colour) for entry in self.legend] + [_argb(UNKNOWN_COLOUR)], np.uint32)
        categories = np.where((self._categories >= 0) & (self._categories < len(self.legend)), self._categories,
                              len(self.legend))
        return palette[categories] if len(categories) else np.zeros(0, np.uint32)

    def _cached_image(self) -> QImage:
        if self._cache is None or self._cache.size() != self.size():
            background = self.palette().color(QPalette.ColorRole.Base).rgba()
            self._cache = rasterise(self.size(), self._positions, self._colours(), background, self._selected)
        return self._cache

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        self._layout()

    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
        painter.drawImage(0, 0, self._cached_image())
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        if not len(self.image_ids):
            painter.setPen(self.palette().color(QPalette.ColorRole.PlaceholderText))
            painter.drawText(self.rect().adjusted(24, 0, -24, 0),
                             Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap, self.empty_text)
        self._paint_legend(painter)
        if self._lasso is not None:
            fill = QColor(LASSO_COLOUR)
            fill.setAlpha(40)
            painter.setPen(QPen(QColor(LASSO_COLOUR), 1.5, Qt.PenStyle.DashLine))
            painter.setBrush(fill)
            painter.drawPath(self._lasso)
        elif self._hover is not None:
            self._paint_hover_card(painter)
        painter.end()

    def _paint_legend(self, painter: QPainter) -> None:
        rows = self.legend_lines()
        if not self.legend or not rows:
            return
        metrics = painter.fontMetrics()
        width = max(metrics.horizontalAdvance(line) for _, line in rows) + 40  # room to spare: no eliding
        row = metrics.height() + 4
        box = QRect(8, 8, min(width, self.width() - 16), row * len(rows) + 8)
        painter.setPen(QColor("#DADDE3"))
        painter.setBrush(QColor(255, 255, 255, 230))
        painter.drawRoundedRect(box, 6, 6)
        for i, (colour, line) in enumerate(rows):
            y = box.y() + 4 + i * row
            painter.setPen(Qt.PenStyle.NoPen)
            painter.setBrush(QColor(colour))
            painter.drawEllipse(QRectF(box.x() + 8, y + row / 2 - 5, 10, 10))
            painter.setPen(self.palette().color(QPalette.ColorRole.Text))
            text = metrics.elidedText(line, Qt.TextElideMode.ElideRight, box.width() - 30)
            painter.drawText(QRect(box.x() + 24, y, box.width() - 28, row), Qt.AlignmentFlag.AlignVCenter, text)

    def _paint_hover_card(self, painter: QPainter) -> None:
        """The photo under the pointer: its thumbnail (once loaded) and caption, kept inside the widget."""
        image = self.thumbnail_for(self._hover)
        caption = self.caption_for(self._hover)
        metrics = painter.fontMetrics()
        card = QRect(0, 0, CARD_THUMBNAIL + 12, CARD_THUMBNAIL + metrics.height() + 16)
        card.moveTopLeft(self._hover_at + QPoint(14, 14))
        if card.right() > self.width() - 4:
            card.moveRight(self._hover_at.x() - 14)
        if card.bottom() > self.height() - 4:
            card.moveBottom(self._hover_at.y() - 14)
        painter.setPen(QColor("#C9CDD4"))
        painter.setBrush(QColor("#FFFFFF"))
        painter.drawRoundedRect(card, 6, 6)
        area = QRect(card.x() + 6, card.y() + 6, CARD_THUMBNAIL, CARD_THUMBNAIL)
        if image is not None and not image.isNull():
            scaled = image.size().scaled(area.size(), Qt.AspectRatioMode.KeepAspectRatio)
            target = QRect(QPoint(0, 0), scaled)
            target.moveCenter(area.center())
            painter.drawImage(target, image)
        else:
            painter.setPen(Qt.PenStyle.NoPen)
            painter.setBrush(self.palette().color(QPalette.ColorRole.AlternateBase))
            painter.drawRoundedRect(area, 4, 4)
        painter.setPen(self.palette().color(QPalette.ColorRole.Text))
        text = metrics.elidedText(caption, Qt.TextElideMode.ElideMiddle, card.width() - 12)
        painter.drawText(QRect(card.x() + 6, area.bottom() + 4, card.width() - 12, metrics.height() + 4),
                         Qt.AlignmentFlag.AlignCenter, text)
        centre = self._positions[self._hover]
        painter.setPen(QPen(QColor(SELECTED_RING), 1.5))
        painter.setBrush(Qt.BrushStyle.NoBrush)
        painter.drawEllipse(QPointF(float(centre[0]), float(centre[1])), DOT_RADIUS + 3, DOT_RADIUS + 3)

    # -- hover and lasso -------------------------------------------------------------------------------
    def hovered_id(self) -> int | None:
        return int(self.image_ids[self._hover]) if self._hover is not None else None

    def refresh_hover(self) -> None:
        """A thumbnail arrived: repaint the card (cheap: the dots are cached)."""
        if self._hover is not None:
            self.update()

    def mousePressEvent(self, event: QMouseEvent) -> None:
        if event.button() == Qt.MouseButton.LeftButton:
            self._lasso = QPainterPath(event.position())
            self._set_hover(None)
            self.update()
        super().mousePressEvent(event)

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        if self._lasso is not None:
            self._lasso.lineTo(event.position())
            self.update()
        else:
            self._hover_at = event.position().toPoint()
            self._set_hover(self._grid.nearest(event.position().x(), event.position().y()))
        super().mouseMoveEvent(event)

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:
        if self._lasso is not None and event.button() == Qt.MouseButton.LeftButton:
            lasso, self._lasso = self._lasso, None
            lasso.lineTo(event.position())
            lasso.closeSubpath()
            # A click (no area drawn) clears the selection, as in a file manager.
            self._selected = inside_path(lasso, self._positions, self.size()) if lasso.elementCount() > 2 \
                else np.zeros(len(self.image_ids), bool)
            self._invalidate()
            self.lasso_selected.emit(self.selected_ids)
        super().mouseReleaseEvent(event)

    def leaveEvent(self, event) -> None:
        self._set_hover(None)
        super().leaveEvent(event)

    def _set_hover(self, index: int | None) -> None:
        changed = index != self._hover
        self._hover = index
        if changed or index is not None:  # the card follows the pointer
            self.update()
        if changed:
            self.hovered.emit(int(self.image_ids[index]) if index is not None else -1)
