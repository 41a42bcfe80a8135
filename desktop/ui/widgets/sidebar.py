"""Sidebar: what to show (all, unlabelled, broken), Check Photos' findings, the classes with counts and keys, and
the folders."""

from __future__ import annotations

from dataclasses import dataclass
from operator import attrgetter
from typing import ClassVar

from PySide6.QtCore import QAbstractListModel, QModelIndex, QRect, QSize, Qt, Signal
from PySide6.QtGui import QColor, QPainter, QPalette
from PySide6.QtWidgets import (
    QAbstractItemView,
    QFrame,
    QHBoxLayout,
    QLabel,
    QListView,
    QScrollArea,
    QStyle,
    QStyledItemDelegate,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from desktop.core.browse import ImageFilter, Show
from desktop.core.folders import FolderInfo
from desktop.ui.models.classes import CLASS_ROLE, ClassListModel
from desktop.ui.models.rows import ListModel, Roles, RowsModel
from desktop.ui.widgets.note import hint

FILTER_ROLE = Qt.ItemDataRole.UserRole + 10
COUNT_ROLE = Qt.ItemDataRole.UserRole + 11
KEY_ROLE = Qt.ItemDataRole.UserRole + 12
FINDING_ROLE = Qt.ItemDataRole.UserRole + 13  # the kind of a Check Photos finding


@dataclass
class _Entry:
    title: str
    image_filter: ImageFilter
    tooltip: str | None = None
    count: int | None = None


# What a view of the sidebar shows, a fixed one or a Check Photos finding: its title, what it means, how many.
_VIEW_ROLES: Roles = {Qt.ItemDataRole.DisplayRole: attrgetter("title"),
                      Qt.ItemDataRole.ToolTipRole: attrgetter("tooltip"), COUNT_ROLE: attrgetter("count")}


class FilterListModel(ListModel[_Entry]):
    """The fixed views with their counts. "Label next" is the retraining loop's queue: unlabelled photos,
    the ones the active model is least sure of (smallest top-two margin) first."""

    ROLES: ClassVar[Roles] = {**_VIEW_ROLES, FILTER_ROLE: attrgetter("image_filter")}

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self._rows = [
            _Entry("All photos", ImageFilter(Show.ALL)),
            _Entry("Unlabelled", ImageFilter(Show.UNLABELLED)),
            _Entry("Label next", ImageFilter(Show.UNLABELLED, least_confident_first=True,
                                             title="Label next — the model's least sure first"),
                   "Unlabelled photos, the ones the model is least sure of first: labelling these improves the "
                   "next model most. Predict first (Model ▸ Predict)."),
            _Entry("Disagrees with label", ImageFilter(Show.DISAGREES, title="Model disagrees with the label"),
                   "Labelled photos the active model puts in another class: a label mistake, or a hard photo."),
            _Entry("Cannot read", ImageFilter(Show.BROKEN)),
        ]

    entries = RowsModel.rows  # the fixed views, in order

    def set_counts(self, all_images: int, unlabelled: int, broken: int, disagreements: int | None = None) -> None:
        counts = (all_images, unlabelled, unlabelled, disagreements, broken)
        for entry, count in zip(self._rows, counts, strict=True):
            entry.count = count
        self.rows_changed()


class FindingListModel(ListModel):
    """Check Photos' findings (desktop.ui.health.FindingView), one row per kind with its count."""

    ROLES: ClassVar[Roles] = {**_VIEW_ROLES, FINDING_ROLE: attrgetter("kind")}


class FolderListModel(ListModel[FolderInfo]):
    # The project's folders, in the sidebar's order (the window hands them in as they change).
    folders = RowsModel.rows
    set_folders = RowsModel.set_rows

    def cell(self, folder: FolderInfo, role: int):
        if role == Qt.ItemDataRole.DisplayRole:
            return folder.name if folder.available else f"{folder.name} (not found)"
        if role == Qt.ItemDataRole.ToolTipRole:
            gone = "" if folder.available else "\nThe folder is gone: right-click to re-link it."
            return f"{folder.root}\n{folder.images} images{gone}"
        if role == COUNT_ROLE:
            return folder.images
        if role == FILTER_ROLE:
            return ImageFilter(Show.ALL, folder_id=folder.id)
        if role == Qt.ItemDataRole.ForegroundRole and not folder.available:
            return QColor("#B3261E")
        return None


class SidebarDelegate(QStyledItemDelegate):
    """One row: optional colour dot, the name, a key badge and the count on the right."""

    ROW_HEIGHT = 30

    def sizeHint(self, option, index) -> QSize:
        return QSize(option.rect.width(), self.ROW_HEIGHT)

    def paint(self, painter: QPainter, option, index) -> None:
        painter.save()
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        palette = option.palette
        rect = option.rect.adjusted(4, 1, -4, -1)
        if option.state & QStyle.StateFlag.State_Selected:
            painter.setPen(Qt.PenStyle.NoPen)
            painter.setBrush(palette.color(QPalette.ColorRole.Highlight).lighter(165))
            painter.drawRoundedRect(rect, 6, 6)
        elif option.state & QStyle.StateFlag.State_MouseOver:
            painter.setPen(Qt.PenStyle.NoPen)
            painter.setBrush(palette.color(QPalette.ColorRole.AlternateBase))
            painter.drawRoundedRect(rect, 6, 6)
        x = rect.x() + 10
        image_class = index.data(CLASS_ROLE)
        count = image_class.count if image_class is not None else index.data(COUNT_ROLE)
        if image_class is not None:
            painter.setPen(Qt.PenStyle.NoPen)
            painter.setBrush(QColor(image_class.colour))
            painter.drawEllipse(QRect(x, rect.center().y() - 6, 12, 12))
            x += 20
        right = rect.right() - 8
        metrics = painter.fontMetrics()
        if count is not None:
            text = f"{count:,}"
            painter.setPen(palette.color(QPalette.ColorRole.PlaceholderText))
            width = metrics.horizontalAdvance(text)
            painter.drawText(QRect(right - width, rect.y(), width, rect.height()), Qt.AlignmentFlag.AlignVCenter, text)
            right -= width + 10
        if image_class is not None and image_class.shortcut:
            badge = QRect(right - 18, rect.center().y() - 9, 18, 18)
            # Explicit colours: the list's transparent style sheet background leaves Base undefined.
            painter.setPen(QColor("#C9CDD4"))
            painter.setBrush(QColor("#FFFFFF"))
            painter.drawRoundedRect(badge, 4, 4)
            painter.setPen(QColor("#374151"))
            painter.drawText(badge, Qt.AlignmentFlag.AlignCenter, image_class.shortcut)
            right -= 26
        foreground = index.data(Qt.ItemDataRole.ForegroundRole)
        painter.setPen(foreground if isinstance(foreground, QColor) else palette.color(QPalette.ColorRole.Text))
        name = metrics.elidedText(index.data(Qt.ItemDataRole.DisplayRole) or "", Qt.TextElideMode.ElideRight,
                                  right - x)
        painter.drawText(QRect(x, rect.y(), right - x, rect.height()), Qt.AlignmentFlag.AlignVCenter, name)
        painter.restore()


def _section_header(title: str, button: QToolButton | None) -> QWidget:
    header = QWidget()
    layout = QHBoxLayout(header)
    layout.setContentsMargins(10, 10, 6, 2)
    label = QLabel(title.upper())
    label.setObjectName("sectionTitle")
    layout.addWidget(label)
    layout.addStretch(1)
    if button is not None:
        layout.addWidget(button)
    return header


def _list(model: QAbstractListModel, delegate: SidebarDelegate) -> QListView:
    view = QListView()
    view.setModel(model)
    view.setItemDelegate(delegate)
    view.setObjectName("sidebarList")
    view.setFrameShape(QListView.Shape.NoFrame)
    view.setMouseTracking(True)
    # The sidebar's scroll area scrolls; a list never does (_fit_to_rows), and rows elide instead of widening.
    view.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
    view.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
    view.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
    view.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
    # A click chooses a view; the keys stay with the grid, so arrows and class keys act on the same photos
    # (arrows in the sidebar used to move its highlight while 1-9 labelled the grid's selection).
    view.setFocusPolicy(Qt.FocusPolicy.NoFocus)
    return view


def _fit_to_rows(view: QListView) -> None:
    """Keep ``view`` exactly as tall as its rows, whatever the model does later."""
    model = view.model()

    def fit(*_args) -> None:
        view.setFixedHeight(SidebarDelegate.ROW_HEIGHT * model.rowCount() + 4)

    for signal in (model.modelReset, model.rowsInserted, model.rowsRemoved, model.layoutChanged):
        signal.connect(fit)
    fit()


class Sidebar(QWidget):
    filter_selected = Signal(object)  # ImageFilter
    add_class_requested = Signal()
    add_folder_requested = Signal()
    class_menu_requested = Signal(object, object)  # ClassInfo, global QPoint
    folder_menu_requested = Signal(object, object)  # FolderInfo, global QPoint
    finding_selected = Signal(str)  # the kind of a Check Photos finding
    view_clicked = Signal()  # after any view was chosen: the window gives the keyboard back to the grid

    def __init__(self, classes: ClassListModel, parent=None) -> None:
        super().__init__(parent)
        self.setObjectName("sidebar")
        self.filters = FilterListModel(self)
        self.folders = FolderListModel(self)
        self.classes = classes
        delegate = SidebarDelegate(self)
        self.filter_view = _list(self.filters, delegate)
        self.class_view = _list(classes, delegate)
        self.folder_view = _list(self.folders, delegate)
        self.findings = FindingListModel(self)
        self.finding_view = _list(self.findings, delegate)
        self.finding_header = _section_header("Check", None)

        add_class = QToolButton(text="+ Class")
        add_class.setObjectName("addClassButton")
        add_class.setToolTip("Add a class (Ctrl+K)")
        add_class.clicked.connect(self.add_class_requested)
        add_folder = QToolButton(text="+ Folder")
        add_folder.setToolTip("Add a folder of photos (Ctrl+O)")
        add_folder.clicked.connect(self.add_folder_requested)
        self.class_hint = hint("Add the classes you want to sort photos into — cat, dog, receipt… Keys 1–9 then "
                               "label the selected photos.")

        # One scroll area for the whole sidebar, each list as tall as its rows: a short window scrolls the
        # sidebar, never squeezes one list into a box with scroll bars of its own.
        content = QWidget()
        content.setObjectName("sidebarContent")
        layout = QVBoxLayout(content)
        layout.setContentsMargins(0, 0, 0, 8)
        layout.setSpacing(0)
        layout.addWidget(_section_header("Show", None))
        layout.addWidget(self.filter_view)
        layout.addWidget(self.finding_header)
        layout.addWidget(self.finding_view)
        layout.addWidget(_section_header("Classes", add_class))
        layout.addWidget(self.class_hint)
        layout.addWidget(self.class_view)
        layout.addWidget(_section_header("Folders", add_folder))
        layout.addWidget(self.folder_view)
        layout.addStretch(1)
        self.scroll_area = QScrollArea()
        self.scroll_area.setWidget(content)
        self.scroll_area.setWidgetResizable(True)
        self.scroll_area.setFrameShape(QFrame.Shape.NoFrame)
        self.scroll_area.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.addWidget(self.scroll_area)
        for view in self._views():
            _fit_to_rows(view)

        for view in self._views():
            view.clicked.connect(lambda index, view=view: self._on_clicked(view, index))
        self.class_view.customContextMenuRequested.connect(self._on_class_menu)
        self.folder_view.customContextMenuRequested.connect(self._on_folder_menu)
        classes.modelReset.connect(self._update_hint)
        self.filter_view.setCurrentIndex(self.filters.index(0))
        self._update_hint()
        self.set_findings([])

    def _views(self) -> tuple[QListView, ...]:
        return self.filter_view, self.finding_view, self.class_view, self.folder_view

    def set_findings(self, views: list) -> None:
        """Check Photos' findings as views with counts; the section shows only after a scan found something."""
        self.findings.set_rows(views)
        stale = next((view.stale for view in views if view.stale), "")  # a restored check, photos changed since
        self.finding_header.findChild(QLabel).setText("CHECK · OUT OF DATE" if stale else "CHECK")
        self.finding_header.setToolTip(stale)
        self.finding_header.setVisible(bool(views))
        self.finding_view.setVisible(bool(views))

    def select_finding(self, kind: str | None) -> None:
        """Mark the finding shown in the grid (None: none is)."""
        row = next((i for i, view in enumerate(self.findings.rows) if view.kind == kind), None)
        if row is None:
            self.finding_view.clearSelection()
            return
        for other in self._views():
            if other is not self.finding_view:
                other.clearSelection()
        self.finding_view.setCurrentIndex(self.findings.index(row))

    def _update_hint(self) -> None:
        self.class_hint.setVisible(self.classes.rowCount() == 0)

    def _on_clicked(self, view: QListView, index: QModelIndex) -> None:
        for other in self._views():
            if other is not view:
                other.clearSelection()
        if view is self.finding_view:
            self.finding_selected.emit(index.data(FINDING_ROLE))
        elif (image_class := index.data(CLASS_ROLE)) is not None:
            self.filter_selected.emit(ImageFilter(Show.CLASS, class_id=image_class.id))
        else:
            self.filter_selected.emit(index.data(FILTER_ROLE))
        self.view_clicked.emit()

    def _on_class_menu(self, position) -> None:
        index = self.class_view.indexAt(position)
        if index.isValid():
            self.class_menu_requested.emit(index.data(CLASS_ROLE), self.class_view.viewport().mapToGlobal(position))

    def _on_folder_menu(self, position) -> None:
        index = self.folder_view.indexAt(position)
        if index.isValid():
            self.folder_menu_requested.emit(self.folders.folders[index.row()],
                                            self.folder_view.viewport().mapToGlobal(position))

    def select_all_photos(self) -> None:
        self.class_view.clearSelection()
        self.folder_view.clearSelection()
        self.finding_view.clearSelection()
        self.filter_view.setCurrentIndex(self.filters.index(0))

    def clear_selection(self) -> None:
        """The grid shows a view none of the entries describes."""
        for view in self._views():
            view.clearSelection()
