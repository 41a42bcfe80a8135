"""Small painted charts: training curves, and the per-image probability bar chart."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from PySide6.QtCore import QPointF, QRectF, QSize, Qt
from PySide6.QtGui import QColor, QFont, QFontMetrics, QPainter, QPainterPath, QPalette, QPen
from PySide6.QtWidgets import QSizePolicy, QWidget

GRID = QColor("#E5E7EB")
AXIS_TEXT = QColor("#6B7280")


def _chart_painter(widget: QWidget) -> tuple[QPainter, QFont]:
    """An antialiased painter in the charts' font: one point smaller than the widget's, never below 7 pt."""
    painter = QPainter(widget)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    font = QFont(widget.font())
    font.setPointSizeF(max(7.0, font.pointSizeF() - 1))
    painter.setFont(font)
    return painter, font


_TITLE_FLAGS = Qt.AlignmentFlag.AlignHCenter | Qt.TextFlag.TextWordWrap


def _bold(font: QFont) -> QFont:
    bold = QFont(font)
    bold.setBold(True)
    return bold


def title_box(font: QFont, width: int, title: str) -> QRectF:
    """Where a chart's bold title goes: centred at the top, wrapped onto more lines when the chart is too narrow
    for it (the results pane at 1024 px cut "Reliability (out-of-fold): …" at both ends)."""
    room = QRectF(4, 2, max(1, width - 8), 1000)
    used = QFontMetrics(_bold(font)).boundingRect(room.toRect(), _TITLE_FLAGS, title)
    return QRectF(room.left(), room.top(), room.width(), used.height())


def _draw_title(painter: QPainter, font: QFont, width: int, title: str) -> float:
    """The title drawn (``title_box``) in the painter's pen; returns its bottom edge. Leaves ``font`` set."""
    box = title_box(font, width, title)
    painter.setFont(_bold(font))
    painter.drawText(box, _TITLE_FLAGS, title)
    painter.setFont(font)
    return box.bottom()


@dataclass
class Series:
    name: str
    colour: str
    values: list[float] = field(default_factory=list)
    dashed: bool = False


def axis_ticks(value: float) -> list[float]:
    """A y axis that shows ``value``, read like a ruler: 0 and 3 to 5 equal steps of 1, 2, 2.5 or 5 × a power of
    ten; the shortest such axis whose labels need no exponent, else the shortest (a loss of 0.022 gets 0, 0.005,
    …, 0.025; the top is always below 1.5 × ``value``)."""
    value = max(value, 1e-12)
    power = 10.0 ** math.floor(math.log10(value / 5))
    axes = []
    for step in (power * m for m in (1, 2, 2.5, 5, 10, 20, 25)):
        count = math.ceil(value / step - 1e-9)
        if 3 <= count <= 5:
            ticks = [i * step for i in range(count + 1)]
            axes.append((_decimals(ticks) is None, ticks[-1], ticks))
    return min(axes)[2]


def tick_labels(ticks: list[float], percent: bool = False) -> list[str]:
    """The ticks' labels: as few decimals as show every one exactly, at most four (they differ: a loss near 0
    once read "0.01, 0.01, 0.00"); below that, short scientific ("2.5e-5")."""
    if percent:
        return [f"{tick * 100:.0f}%" for tick in ticks]
    decimals = _decimals(ticks)
    if decimals is None:
        return ["0", *(_scientific(tick) for tick in ticks[1:])]
    return [f"{tick:.{decimals}f}" for tick in ticks]


def _decimals(ticks: list[float]) -> int | None:
    """The fewest decimals, up to four, that write every tick exactly; None when four are not enough."""
    tolerance = max(ticks) * 1e-6
    return next((decimals for decimals in range(5)
                 if all(abs(round(tick, decimals) - tick) <= tolerance for tick in ticks)), None)


def _scientific(value: float) -> str:
    mantissa, exponent = f"{value:.1e}".split("e")
    return f"{mantissa.removesuffix('.0')}e{int(exponent)}"


class LineChart(QWidget):
    """Lines over epochs with a y range of [0, max] (or fixed), a light grid and a legend."""

    def __init__(self, title: str, y_max: float | None = None, percent: bool = False, x_label: str = "epoch",
                 empty_text: str = "Curves appear as training runs", parent=None) -> None:
        super().__init__(parent)
        self.title = title
        self.x_label = x_label
        self.empty_text = empty_text
        self.fixed_y_max = y_max
        self.percent = percent
        self.series: list[Series] = []
        self.x_count = 0  # epochs planned, so the x axis does not jump while training runs
        self.x_ticks: list[str] = []  # a name under each point (model versions), or none
        self.setMinimumSize(QSize(130, 150))  # two side by side fit a 360-px pane
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)

    def set_series(self, series: list[Series], x_count: int = 0, x_ticks: list[str] | None = None) -> None:
        self.series = series
        self.x_count = x_count
        self.x_ticks = list(x_ticks or [])
        self.update()

    def _ticks(self) -> list[float]:
        if self.fixed_y_max is not None:
            return [self.fixed_y_max * i / 4 for i in range(5)]
        values = [v for s in self.series for v in s.values if math.isfinite(v)]
        return axis_ticks(max(max(values, default=1.0) * 1.05, 1e-6))  # a little room above the highest point

    def paintEvent(self, event) -> None:
        painter, font = _chart_painter(self)
        metrics = painter.fontMetrics()
        painter.setPen(self.palette().color(QPalette.ColorRole.Text))
        title_bottom = _draw_title(painter, font, self.width(), self.title)
        points = max(self.x_count, max((len(s.values) for s in self.series), default=0))
        if points == 0:  # no axes yet: the placeholder gets the whole area, wrapped, over nothing
            painter.setPen(AXIS_TEXT)
            painter.drawText(QRectF(self.rect()).adjusted(8, 22, -8, -4),
                             Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap, self.empty_text)
            painter.end()
            return
        ticks = self._ticks()
        y_max, labels = ticks[-1], tick_labels(ticks, self.percent)
        label_width = max(24, max(metrics.horizontalAdvance(text) for text in labels) + 8)
        below = 36 if self.x_ticks else 22  # the x axis's title, under its ticks' names if it has them
        plot = QRectF(self.rect()).adjusted(label_width, title_bottom + 20, -10, -below)  # the legend above it
        for i, text in enumerate(labels):
            y = plot.bottom() - plot.height() * i / (len(ticks) - 1)
            painter.setPen(QPen(GRID, 1))
            painter.drawLine(QPointF(plot.left(), y), QPointF(plot.right(), y))
            painter.setPen(AXIS_TEXT)
            painter.drawText(QRectF(0, y - 8, plot.left() - 4, 16),
                             Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter, text)

        def position(i: int, value: float) -> QPointF:
            x = plot.left() + (plot.width() * i / (points - 1) if points > 1 else plot.width() / 2)
            return QPointF(x, plot.bottom() - plot.height() * min(value, y_max) / y_max)

        painter.setPen(AXIS_TEXT)
        self._draw_x_ticks(painter, metrics, plot, lambda i: position(i, 0).x())
        painter.drawText(QRectF(plot.left(), plot.bottom() + below - 20, plot.width(), 16),
                         Qt.AlignmentFlag.AlignHCenter, self.x_label)

        # A narrow chart starts its legend further left rather than cutting the last name.
        legend_width = sum(26 + metrics.horizontalAdvance(s.name) for s in self.series)
        legend_x = max(4.0, min(plot.left() + 6, self.width() - legend_width))
        for series in self.series:
            pen = QPen(QColor(series.colour), 2)
            if series.dashed:
                pen.setStyle(Qt.PenStyle.DashLine)
            finite = [(i, v) for i, v in enumerate(series.values) if math.isfinite(v)]
            if finite:
                path = QPainterPath(position(*finite[0]))
                for i, v in finite[1:]:
                    path.lineTo(position(i, v))
                painter.setPen(pen)
                painter.setBrush(Qt.BrushStyle.NoBrush)
                painter.drawPath(path)
                painter.setBrush(QColor(series.colour))
                # Few points (model versions, short runs): mark each; many: only the latest.
                for i, v in finite if len(finite) <= 12 else finite[-1:]:
                    painter.drawEllipse(position(i, v), 2.5, 2.5)
            painter.setPen(pen)
            painter.drawLine(QPointF(legend_x, plot.top() - 10), QPointF(legend_x + 14, plot.top() - 10))
            painter.setPen(AXIS_TEXT)
            painter.drawText(QPointF(legend_x + 18, plot.top() - 6), series.name)
            legend_x += 26 + metrics.horizontalAdvance(series.name)
        painter.end()

    def _draw_x_ticks(self, painter: QPainter, metrics: QFontMetrics, plot: QRectF, x_of) -> None:
        widths = [metrics.horizontalAdvance(text) for text in self.x_ticks]
        for index, left in spaced_labels([x_of(i) for i in range(len(widths))], widths, self.width()):
            painter.drawText(QRectF(left, plot.bottom() + 2, widths[index], 16), Qt.AlignmentFlag.AlignHCenter,
                             self.x_ticks[index])


def spaced_labels(centres: list[float], widths: list[float], room: float, gap: float = 6) -> list[tuple[int, float]]:
    """(index, left edge) of the labels to draw, each centred under its point and kept inside ``room``; a label
    that would come within ``gap`` of the last one drawn is left out (forty versions on a narrow chart)."""
    shown: list[tuple[int, float]] = []
    right_of_last = -math.inf
    for index, (centre, width) in enumerate(zip(centres, widths, strict=True)):
        left = min(max(centre - width / 2, 0.0), room - width)
        if left >= right_of_last + gap:
            shown.append((index, left))
            right_of_last = left + width
    return shown


@dataclass(frozen=True)
class Bar:
    name: str
    value: float  # probability, 0..1
    colour: str
    highlighted: bool = False  # the predicted class
    marked: bool = False  # the human label


class ProbabilityChart(QWidget):
    """Horizontal bars, highest first; the top ``limit`` classes and the rest summed as "other"."""

    ROW = 22

    def __init__(self, limit: int = 10, parent=None) -> None:
        super().__init__(parent)
        self.limit = limit
        self.bars: list[Bar] = []
        self.message = "No prediction yet"
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)

    def set_bars(self, bars: list[Bar]) -> None:
        ordered = sorted(bars, key=lambda bar: bar.value, reverse=True)
        if len(ordered) > self.limit:
            rest = ordered[self.limit - 1 :]
            other = Bar(f"{len(rest)} other classes", sum(bar.value for bar in rest), "#9CA3AF",
                        marked=any(bar.marked for bar in rest))
            ordered = [*ordered[: self.limit - 1], other]
        self.bars = ordered
        self.updateGeometry()
        self.update()

    def clear(self, message: str) -> None:
        self.bars = []
        self.message = message
        self.updateGeometry()
        self.update()

    def sizeHint(self) -> QSize:
        return QSize(300, max(1, len(self.bars)) * self.ROW + 8)

    def minimumSizeHint(self) -> QSize:
        return self.sizeHint()

    def name_column(self) -> tuple[list[tuple[str, QFont, QFontMetrics]], int]:
        """Each bar's name as drawn (ticked when it is the label, bold when predicted: both make it wider) and
        the width of the column they are drawn in, measured on those fonts so no name is cut needlessly."""
        bold = QFont(self.font())
        bold.setBold(True)
        names = []
        for bar in self.bars:
            font = bold if bar.highlighted else self.font()
            names.append((("✔ " if bar.marked else "") + bar.name, font, QFontMetrics(font)))
        widest = max((m.horizontalAdvance(text) for text, _, m in names), default=0)
        return names, min(self.width() // 3, widest + 16)

    def paintEvent(self, event) -> None:
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        palette = self.palette()
        if not self.bars:
            painter.setPen(palette.color(QPalette.ColorRole.PlaceholderText))
            painter.drawText(self.rect(), Qt.AlignmentFlag.AlignCenter, self.message)
            painter.end()
            return
        metrics = painter.fontMetrics()
        names, name_width = self.name_column()
        value_width = metrics.horizontalAdvance("100.0%") + 8
        track_width = max(10, self.width() - name_width - value_width - 8)
        for row, (bar, (text, font, font_metrics)) in enumerate(zip(self.bars, names, strict=True)):
            top = 4 + row * self.ROW
            name = font_metrics.elidedText(text, Qt.TextElideMode.ElideRight, name_width - 6)
            painter.setFont(font)
            painter.setPen(palette.color(QPalette.ColorRole.Text))
            painter.drawText(QRectF(0, top, name_width - 6, self.ROW - 4),
                             Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter, name)
            track = QRectF(name_width, top + 3, track_width, self.ROW - 10)
            painter.setPen(Qt.PenStyle.NoPen)
            painter.setBrush(QColor("#EEF0F3"))
            painter.drawRoundedRect(track, 3, 3)
            colour = QColor(bar.colour)
            if not bar.highlighted:
                colour.setAlphaF(0.55)
            filled = QRectF(track.left(), track.top(), max(2.0, track.width() * max(0.0, min(1.0, bar.value))),
                            track.height())
            painter.setBrush(colour)
            painter.drawRoundedRect(filled, 3, 3)
            painter.setPen(palette.color(QPalette.ColorRole.Text))
            painter.drawText(QRectF(track.right() + 6, top, value_width, self.ROW - 4),
                             Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter, f"{bar.value * 100:.1f}%")
        painter.end()


class ReliabilityDiagram(QWidget):
    """Calibration at a glance: per confidence bin, how often the model was right (bars) against how sure it
    claimed to be (the diagonal). Bars under the diagonal: over-confident; above: under-confident."""

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.counts: list[int] = []
        self.accuracy: list[float | None] = []
        self.confidence: list[float | None] = []
        self.ece: float | None = None
        self.title = "Reliability: share right by confidence"  # the results view adds where it was measured
        self.setMinimumSize(QSize(200, 220))
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)

    def sizeHint(self) -> QSize:
        return QSize(300, 240)

    def set_reliability(self, reliability: dict, ece: float | None) -> None:
        self.counts = list(reliability.get("counts", []))
        self.accuracy = list(reliability.get("accuracy", []))
        self.confidence = list(reliability.get("confidence", []))
        self.ece = ece
        self.update()

    def paintEvent(self, event) -> None:
        painter, font = _chart_painter(self)
        painter.setPen(self.palette().color(QPalette.ColorRole.Text))
        top = _draw_title(painter, font, self.width(), self.title) + 6
        side = max(10.0, min(self.width() - 50, self.height() - top - 24))
        plot = QRectF(40 + (self.width() - 50 - side) / 2, top, side, side)
        for i in range(5):
            y = plot.bottom() - plot.height() * i / 4
            painter.setPen(QPen(GRID, 1))
            painter.drawLine(QPointF(plot.left(), y), QPointF(plot.right(), y))
            painter.setPen(AXIS_TEXT)
            painter.drawText(QRectF(0, y - 8, plot.left() - 4, 16),
                             Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter, f"{25 * i}%")
        axis = QRectF(plot.left(), plot.bottom() + 2, plot.width(), 16)
        painter.drawText(axis, Qt.AlignmentFlag.AlignHCenter, "confidence")
        painter.drawText(axis, Qt.AlignmentFlag.AlignLeft, "0%")
        painter.drawText(axis, Qt.AlignmentFlag.AlignRight, "100%")
        bins = len(self.counts)
        if not bins or not sum(self.counts):
            painter.drawText(plot, Qt.AlignmentFlag.AlignCenter, "Appears after training")
            painter.end()
            return
        width = plot.width() / bins
        largest = max(self.counts)
        for b, (count, accuracy) in enumerate(zip(self.counts, self.accuracy, strict=False)):
            if not count or accuracy is None:
                continue
            colour = QColor("#0072B2")
            colour.setAlphaF(0.35 + 0.6 * count / largest)  # darker bars rest on more photos
            bar = QRectF(plot.left() + b * width + 1, plot.bottom() - plot.height() * accuracy, width - 2,
                         plot.height() * accuracy)
            painter.setPen(Qt.PenStyle.NoPen)
            painter.setBrush(colour)
            painter.drawRect(bar)
        pen = QPen(QColor("#D55E00"), 1.5)
        pen.setStyle(Qt.PenStyle.DashLine)
        painter.setPen(pen)
        painter.drawLine(plot.bottomLeft(), plot.topRight())  # perfectly calibrated
        painter.end()
