"""The large preview of the current image with its label; decoding happens off the GUI thread."""

from __future__ import annotations

import html
from pathlib import Path

from PySide6.QtCore import QObject, QRect, QRunnable, QSize, Qt, QThreadPool, Signal
from PySide6.QtGui import QColor, QImage, QLinearGradient, QPainter, QPalette
from PySide6.QtWidgets import QFrame, QLabel, QSizePolicy, QVBoxLayout, QWidget

from desktop.core.browse import ImageRow
from desktop.core.classes import ClassInfo
from desktop.core.prediction_store import ImagePrediction
from desktop.io import images
from desktop.ui.widgets.charts import Bar, ProbabilityChart
from desktop.ui.widgets.grid import readable_text_colour

PREVIEW_DECODE_SIDE = 1600  # decode large JPEGs at reduced size: enough for a screen-sized preview


class _Signals(QObject):
    decoded = Signal(int, QImage, str)  # request number, image, error


class _Decode(QRunnable):
    def __init__(self, number: int, path: Path, signals: _Signals) -> None:
        super().__init__()
        self.number, self.path, self.signals = number, path, signals

    def run(self) -> None:
        try:
            rgb = images.load_rgb(self.path, min_long_side=PREVIEW_DECODE_SIDE)
            rgb = images.resize_to_fit(rgb, PREVIEW_DECODE_SIDE)
            height, width = rgb.shape[:2]
            image = QImage(rgb.data, width, height, 3 * width, QImage.Format.Format_RGB888).copy()
            self.signals.decoded.emit(self.number, image, "")
        except Exception as exc:  # any decoding failure is shown in the panel, never raised
            self.signals.decoded.emit(self.number, QImage(), str(exc))


class ImageCanvas(QWidget):
    """Paints an image scaled to fit, keeping its aspect ratio."""

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.image = QImage()
        self.overlay = QImage()  # e.g. a Grad-CAM heatmap, same aspect ratio as the image
        self.message = ""
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setMinimumSize(QSize(200, 200))

    def set_image(self, image: QImage, message: str = "") -> None:
        self.image, self.message = image, message
        self.update()

    def set_overlay(self, overlay: QImage | None) -> None:
        self.overlay = overlay if overlay is not None else QImage()
        self.update()

    def paintEvent(self, event) -> None:
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
        if not self.image.isNull():
            size = self.image.size().scaled(self.size(), Qt.AspectRatioMode.KeepAspectRatio)
            target = QRect(0, 0, size.width(), size.height())
            target.moveCenter(self.rect().center())
            painter.drawImage(target, self.image)
            if not self.overlay.isNull():
                painter.drawImage(target, self.overlay)
        elif self.message:
            painter.setPen(self.palette().color(QPalette.ColorRole.PlaceholderText))
            painter.drawText(self.rect().adjusted(16, 0, -16, 0),
                             Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap, self.message)
        painter.end()


class HeatmapLegend(QWidget):
    """Under the photo while the heatmap shows: which class it explains, and the colour ramp low → high."""

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.caption = ""
        self.setFixedHeight(34)

    def set_caption(self, caption: str) -> None:
        self.caption = caption
        self.update()

    def shown_caption(self) -> str:
        """The caption as painted: the whole width is its own (it shared a line with the ramp, which cut "birds")."""
        return self.fontMetrics().elidedText(self.caption, Qt.TextElideMode.ElideRight, self.width())

    def paintEvent(self, event) -> None:
        painter = QPainter(self)
        text = self.palette().color(QPalette.ColorRole.Text)
        painter.setPen(text)
        metrics = painter.fontMetrics()
        # The class on a line of its own (the pane may be narrow), the colour ramp and what it means beneath.
        painter.drawText(QRect(0, 0, self.width(), 18), Qt.AlignmentFlag.AlignVCenter, self.shown_caption())
        painter.setPen(self.palette().color(QPalette.ColorRole.PlaceholderText))
        painter.drawText(QRect(0, 18, 30, 16), Qt.AlignmentFlag.AlignVCenter, "low")
        ramp = QRect(32, 20, 90, 12)
        gradient = QLinearGradient(ramp.topLeft(), ramp.topRight())
        for stop, colour in HEAT_RAMP:  # OpenCV's JET, as in desktop.ml.gradcam.overlay_rgba
            gradient.setColorAt(stop, QColor(colour))
        painter.fillRect(ramp, gradient)
        painter.drawText(QRect(ramp.right() + 4, 18, 34, 16), Qt.AlignmentFlag.AlignVCenter, "high")
        meaning = metrics.elidedText("how much it counts", Qt.TextElideMode.ElideRight,
                                     max(0, self.width() - ramp.right() - 46))
        painter.drawText(QRect(ramp.right() + 44, 18, self.width(), 16), Qt.AlignmentFlag.AlignVCenter, meaning)
        painter.end()


HEAT_RAMP = ((0.0, "#00007F"), (0.125, "#0000FF"), (0.375, "#00FFFF"), (0.625, "#FFFF00"), (0.875, "#FF0000"),
             (1.0, "#7F0000"))


class PreviewPanel(QFrame):
    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.setObjectName("previewPanel")
        self.canvas = ImageCanvas(self)
        self.title = QLabel(self)
        self.title.setObjectName("previewTitle")
        self.title.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.title.setWordWrap(True)
        self.details = QLabel(self)
        self.details.setObjectName("previewDetails")
        self.details.setWordWrap(True)
        self.label_chip = QLabel(self)
        self.label_chip.setObjectName("labelChip")
        self.label_chip.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.heatmap_legend = HeatmapLegend(self)
        self.heatmap_legend.hide()
        self.keywords = QLabel(self)
        self.keywords.setObjectName("previewDetails")
        self.keywords.setWordWrap(True)
        self.keywords.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.chart_title = QLabel("<b>Prediction</b>")
        self.chart = ProbabilityChart(limit=10, parent=self)
        self.chart_hint = QLabel("")
        self.chart_hint.setObjectName("previewDetails")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(12, 12, 12, 12)
        layout.setSpacing(8)
        layout.addWidget(self.canvas, 1)
        layout.addWidget(self.heatmap_legend)
        layout.addWidget(self.label_chip)
        layout.addWidget(self.title)
        layout.addWidget(self.details)
        layout.addWidget(self.keywords)
        layout.addWidget(self.chart_title)
        layout.addWidget(self.chart)
        layout.addWidget(self.chart_hint)
        self._signals = _Signals()
        self._signals.decoded.connect(self._on_decoded)
        self._pool = QThreadPool(self)
        self._pool.setMaxThreadCount(1)
        self._request = 0
        self.row: ImageRow | None = None
        self.show_row(None, None)

    def show_row(self, row: ImageRow | None, label: ClassInfo | None) -> None:
        same_image = self.row is not None and row is not None and row.id == self.row.id
        self.row = row
        self.show_label(label)
        if row is None:  # nothing of the photo shown before stays (its bars may be another project's)
            self.set_heatmap(None)
            self.canvas.set_image(QImage(), "Select a photo to see it here.")
            self.title.setText("")
            self.details.setText("")
            self.show_keywords([])
            self.chart.clear("")
            self.chart_hint.setText("")
            return
        self.title.setText(f"<b>{row.name}</b>")
        size = f"{row.width} × {row.height} px · " if row.width else ""
        problem = f"<br><span style='color:#B3261E'>{row.error}</span>" if row.error else ""
        missing = "<br><span style='color:#B3261E'>The file is missing on disk.</span>" if row.missing else ""
        self.details.setText(f"{size}{Path(row.folder_root).name}/{row.rel_path}{problem}{missing}")
        if same_image:
            return
        self.set_heatmap(None)  # it belonged to the previous photo
        if row.error:  # the import already knows why: no decode, no labelling hints
            self._request += 1
            self.canvas.set_image(QImage(), f"Cannot read this file: {row.error}")
            return
        self._request += 1
        self._pool.clear()  # skip images the user already moved past
        self._pool.start(_Decode(self._request, row.path, self._signals))

    def show_keywords(self, keywords: list[str]) -> None:
        """The keywords the photo carries (its XMP, IPTC or sidecar), hierarchy levels shown as "›"."""
        shown = " · ".join(html.escape(keyword.replace("|", " › ")) for keyword in keywords)
        self.keywords.setText(f"Keywords: {shown}" if keywords else "")
        self.keywords.setVisible(bool(keywords))

    def set_heatmap(self, overlay: QImage | None, class_name: str = "", probability: float = 0.0) -> None:
        """The Grad-CAM overlay with its legend, or neither."""
        self.canvas.set_overlay(overlay)
        self.heatmap_legend.setVisible(overlay is not None)
        if overlay is not None:
            self.heatmap_legend.set_caption(f"Heatmap for: {class_name} ({probability:.0%})")

    def show_prediction(self, prediction: ImagePrediction | None, label: ClassInfo | None,
                        colours: dict[str, str], has_model: bool) -> None:
        """The bar chart over the active model's classes; the human label is ticked."""
        if self.row is not None and self.row.error:
            self.chart.clear("No prediction: the file cannot be read.")
            self.chart_hint.setText("")
            return
        if prediction is None:
            self.chart.clear("Not predicted yet — use Model ▸ Predict." if has_model else
                             "Train a model to see what it thinks of this photo.")
            self.chart_hint.setText("")
            return
        predicted = prediction.predicted
        self.chart.set_bars([
            Bar(name, value, colours.get(name, "#9CA3AF"), highlighted=name == predicted,
                marked=label is not None and label.name == name)
            for name, value in zip(prediction.class_names, prediction.probabilities, strict=True)
        ])
        if label is not None and label.name != predicted:
            self.chart_hint.setText(f"The model disagrees with the label “{label.name}”. "
                                    "Press A to accept its prediction, or a class key.")
        elif label is None:
            self.chart_hint.setText(f"Press A to label it “{predicted}”.")
        else:
            self.chart_hint.setText("")

    def show_label(self, label: ClassInfo | None) -> None:
        if self.row is not None and self.row.error:
            self.label_chip.setText("Cannot be read — it cannot be labelled")
            self.label_chip.setStyleSheet("")
            self.label_chip.setProperty("unlabelled", True)
        elif label is None:
            self.label_chip.setText("Unlabelled — press a class key (1–9)")
            self.label_chip.setStyleSheet("")
            self.label_chip.setProperty("unlabelled", True)
        else:
            colour = QColor(label.colour)
            self.label_chip.setText(label.name)
            self.label_chip.setStyleSheet(
                f"background:{colour.name()}; color:{readable_text_colour(colour).name()};"
            )
            self.label_chip.setProperty("unlabelled", False)

    def _on_decoded(self, number: int, image: QImage, error: str) -> None:
        if number == self._request:
            self.canvas.set_image(image, error and f"Cannot show this image: {error}")

    def wait_idle(self, timeout_ms: int = 5000) -> bool:
        return self._pool.waitForDone(timeout_ms)
