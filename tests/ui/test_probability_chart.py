"""The probability bar chart shows the values it is given, highest first, many classes folded into "other"."""

from __future__ import annotations

import pytest

from desktop.ui.widgets.charts import Bar, ProbabilityChart

pytestmark = pytest.mark.gui


def test_bars_sorted_highlighted_and_marked(qtbot):
    chart = ProbabilityChart(limit=10)
    qtbot.addWidget(chart)
    chart.set_bars([Bar("cat", 0.2, "#f00"), Bar("dog", 0.7, "#0f0", highlighted=True),
                    Bar("bird", 0.1, "#00f", marked=True)])
    assert [(b.name, b.value) for b in chart.bars] == [("dog", 0.7), ("cat", 0.2), ("bird", 0.1)]
    assert chart.bars[0].highlighted and chart.bars[2].marked
    chart.resize(360, chart.sizeHint().height())
    chart.show()
    image = chart.grab().toImage()
    assert not image.isNull() and chart.sizeHint().height() >= 3 * ProbabilityChart.ROW


def test_many_classes_fold_into_other(qtbot):
    chart = ProbabilityChart(limit=10)
    qtbot.addWidget(chart)
    values = [0.3, 0.2, 0.1, 0.08, 0.07, 0.06, 0.05, 0.04, 0.03, 0.03, 0.02, 0.01, 0.005, 0.005]
    chart.set_bars([Bar(f"c{i}", v, "#888", marked=i == 13) for i, v in enumerate(values)])
    assert len(chart.bars) == 10
    assert [b.name for b in chart.bars[:9]] == [f"c{i}" for i in range(9)]
    other = chart.bars[-1]
    assert other.name == "5 other classes"
    assert other.value == pytest.approx(sum(values[9:]))
    assert other.marked  # the human label is among the folded ones
    chart.clear("Train a model")
    assert chart.bars == [] and chart.message == "Train a model"


def test_the_predicted_label_keeps_its_whole_name_in_a_narrow_pane(qtbot):
    """The predicted class is bold and, when it is the label, ticked: the name column was measured on the plain
    name in the plain font, so "✔ coffee" came out as "✔ co…" in a 330 px pane."""
    from PySide6.QtCore import Qt
    from PySide6.QtGui import QFont, QFontMetrics

    chart = ProbabilityChart(limit=10)
    qtbot.addWidget(chart)
    chart.set_bars([Bar("coffee", 1.0, "#0af", highlighted=True, marked=True), Bar("cats", 0.0, "#fa0"),
                    Bar("space", 0.0, "#0a6")])
    chart.resize(330, chart.sizeHint().height())
    names, width = chart.name_column()
    bold = QFont(chart.font())
    bold.setBold(True)
    assert names[0][0] == "✔ coffee"
    assert width - 6 >= QFontMetrics(bold).horizontalAdvance("✔ coffee")
    assert names[0][2].elidedText(names[0][0], Qt.TextElideMode.ElideRight, width - 6) == "✔ coffee"


def test_a_chart_title_wraps_in_a_narrow_pane_instead_of_losing_both_ends(qtbot):
    """The results pane at 1024 px showed "iability (out-of-fold): share right by confiden"."""
    from PySide6.QtGui import QFontMetrics

    from desktop.ui.widgets.charts import ReliabilityDiagram, title_box

    chart = ReliabilityDiagram()
    qtbot.addWidget(chart)
    chart.title = "Reliability (out-of-fold): share right by confidence"
    chart.set_reliability({"counts": [0, 2, 6], "accuracy": [None, 0.5, 1.0], "confidence": [None, 0.5, 0.9]},
                          ece=0.05)
    line = QFontMetrics(chart.font()).height()
    narrow, wide = title_box(chart.font(), 300, chart.title), title_box(chart.font(), 900, chart.title)
    assert narrow.width() <= 300 and narrow.height() >= 2 * line - 2  # two lines inside the chart
    assert wide.height() < 2 * line - 2  # one line where it fits
    chart.resize(300, chart.sizeHint().height())
    chart.show()
    assert not chart.grab().toImage().isNull()
