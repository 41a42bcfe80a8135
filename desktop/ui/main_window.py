"""The main window: layout, menus, shortcuts and the views the controllers ask for. Behaviour lives in the
controllers, which `desktop.ui.controllers` builds and wires to one another (the composition root)."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QSettings, Qt
from PySide6.QtGui import QAction, QCloseEvent, QDragEnterEvent, QDropEvent, QIcon, QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QMainWindow,
    QMenu,
    QMessageBox,
    QPushButton,
    QSizePolicy,
    QSplitter,
    QTabWidget,
    QToolBar,
    QVBoxLayout,
    QWidget,
)

from desktop import APP_NAME
from desktop.core.browse import ImageFilter, Show, count_matching
from desktop.core.folders import FolderError, FolderInfo, relink_folder, remove_folder
from desktop.core.keywords import keywords_of
from desktop.core.prediction_store import prediction_for
from desktop.core.project import ProjectError, open_project
from desktop.core.status import ProjectStatus
from desktop.resources import resource_path
from desktop.ui.context import ProjectContext
from desktop.ui.controllers import Controllers, WindowParts
from desktop.ui.grid_keys import GridKeys
from desktop.ui.importing import ImportProgressWidget
from desktop.ui.keywords import classes_from_keywords
from desktop.ui.models.images import Role
from desktop.ui.settings import LAST_PROJECT, THUMBNAIL_SIZE, WINDOW_SPLITTER
from desktop.ui.shortcuts import SHORTCUTS, ShortcutsDialog, key_sequences
from desktop.ui.status_bar import TrainingStatus, progress_lines
from desktop.ui.training_panel import TrainPanel
from desktop.ui.widgets.finding_bar import FindingBar
from desktop.ui.widgets.grid import ThumbnailGrid
from desktop.ui.widgets.preview import PreviewPanel
from desktop.ui.widgets.sidebar import Sidebar
from desktop.ui.window_geometry import MapBesideGrid, restore_window, save_window
from desktop.wording import listing

GRID_MIN_WIDTH = 360


def splitter_sizes(width: int) -> list[int]:
    """Sidebar, grid, photo/train pane: the right pane about a third (never under the Train tab's 360 px), the
    sidebar wide enough for class names, the grid the rest."""
    # 196: the grid keeps most of a 1024 px window; a few more px when the sidebar scrolls would elide less.
    sidebar = max(196, min(250, width // 6))
    side = max(360, min(520, int(width * 0.34)))
    return [sidebar, max(GRID_MIN_WIDTH, width - sidebar - side), side]


class MainWindow(QMainWindow):
    def __init__(self, settings: QSettings | None = None) -> None:
        super().__init__()
        self.settings = settings or QSettings()
        self.setWindowTitle(APP_NAME)
        self.setWindowIcon(QIcon(str(resource_path("icons", "pigeonhole.svg"))))
        self.setAcceptDrops(True)

        self.context = ProjectContext(self)
        self.grid = ThumbnailGrid(self)
        self.grid.setModel(self.context.images)
        self.preview = PreviewPanel(self)
        self.train_panel = TrainPanel(self)
        self.side_tabs = QTabWidget(self)
        self.side_tabs.setObjectName("sideTabs")
        self.side_tabs.addTab(self.preview, "Photo")
        self.side_tabs.addTab(self.train_panel, "Train")
        self.sidebar = Sidebar(self.context.classes, self)
        self.import_progress = ImportProgressWidget(self)
        self.counts_label = QLabel()
        self.statusBar().addWidget(self.counts_label)
        self.statusBar().addPermanentWidget(self.import_progress)
        # Each kind of background work has its own line, shown while it works, whatever tab is open.
        self.predict_progress, self.similar_progress, self.health_progress, self.map_progress = progress_lines(
            self.statusBar(), 4)

        self.controllers = Controllers.build(WindowParts(
            self, self.context, self.grid, self.preview, self.train_panel, self.import_progress, self.predict_progress,
            self.similar_progress, self.health_progress, self.map_progress))
        self.training_status = TrainingStatus(self.controllers.training, self.statusBar(), open_tab=self.show_training)
        self.finding_bar = FindingBar(self)

        splitter = QSplitter(Qt.Orientation.Horizontal, self)
        splitter.setObjectName("mainSplitter")
        splitter.addWidget(self.sidebar)
        grid_pane = self._grid_with_view_title()
        # Shrinking the window takes from the grid until two columns of thumbnails are left, then from the panes.
        grid_pane.setMinimumWidth(GRID_MIN_WIDTH)
        splitter.addWidget(grid_pane)
        splitter.addWidget(self.side_tabs)
        # Only the grid takes what the window gains or loses; the panes keep a readable width.
        splitter.setStretchFactor(0, 0)
        splitter.setStretchFactor(1, 1)
        splitter.setStretchFactor(2, 0)
        self.sidebar.setMinimumWidth(190)
        self.side_tabs.setMinimumWidth(360)
        splitter.setChildrenCollapsible(False)
        self.splitter = splitter
        self.setCentralWidget(splitter)
        self.map_placement = MapBesideGrid(self, self.controllers.collection_map, self.side_tabs,
                                           [self.sidebar, grid_pane])

        self._build_actions()
        self._connect()
        self._splitter_restored = False
        self._restoring_current = False
        self._restore_state()
        self._update_empty_state()

    # -- construction ----------------------------------------------------------------------------------
    def _build_actions(self) -> None:
        c = self.controllers
        def action(text: str, slot, shortcut: str | None = None, tip: str = "") -> QAction:
            """``shortcut`` names a row of desktop.ui.shortcuts.SHORTCUTS: the one place keys are decided."""
            act = QAction(text, self)
            act.triggered.connect(slot)
            if shortcut is not None:
                act.setShortcuts(key_sequences(shortcut))
            if tip:
                act.setToolTip(tip)
            self.addAction(act)
            return act

        self.add_folder_action = action("Add Folder…", self.choose_folders, "add_folder", "Add a folder of photos")
        self.add_class_action = action("Add Class…", lambda: c.class_actions.add(), "add_class")
        self.train_action = action("Train", self.train, "train", "Train a classifier on the labelled photos")
        self.predict_action = action("Predict", lambda: c.predicting.predict(), "predict",
                                     "Run the active model over every photo (photos done before are skipped)")
        self.models_action = action("Model Versions…", self.show_models, "models",
                                    "Every trained model, compared on today's validation photos")
        self.rescan_action = action("Re-scan Folders", c.importer.rescan_all, "rescan",
                                    "Find new, changed and missing photos in every folder")
        self.new_project_action = action("New Project…", self.choose_new_project, "new_project")
        self.open_project_action = action("Open Project…", self.choose_project, "open_project")
        self.undo_action = c.labelling.undo_stack.createUndoAction(self, "Undo")
        self.undo_action.setShortcuts(key_sequences("undo"))
        self.redo_action = c.labelling.undo_stack.createRedoAction(self, "Redo")
        self.redo_action.setShortcuts(key_sequences("redo"))  # Ctrl+Shift+Z and Ctrl+Y, each once
        self.addActions([self.undo_action, self.redo_action])
        accept = action("Accept Prediction", c.labelling.accept_prediction, "accept",
                        "Label the selected photos with what the model predicts")
        clear = action("Clear Label", c.labelling.clear_selection_labels, "clear")
        review_labels = action("Review Likely Label Mistakes", lambda: c.label_review.find(), None,
                               "Labelled photos whose label the data suggests is wrong, most suspicious first")
        keep = action("Keep Label and Next", c.labelling.keep_and_next, "keep",
                      "Reviewing labels: this one is right, go on")
        self.more_like_this_action = action("More Like This", c.similar.more_like_this, "more_like_this",
                                            "The photos most like this one, most alike first")
        self.select_similar_action = action("Select Similar", c.similar.select_similar, "select_similar",
                                            "Add the photos most like the selected ones to the selection")
        self.check_photos_action = action("Check Photos", c.health.check, None,
                                          "Duplicates, blurry, dark, bright, odd and outlying photos, class "
                                          "imbalance: flagged in the sidebar, nothing excluded")
        self.map_action = action("Collection Map", self.show_collection_map, None,
                                 "Every photo on one map, similar photos close together; lasso some to label them")
        find_duplicates = action("Find Near-Duplicates", lambda: c.duplicates.find(), None,
                                 "Photos that are (nearly) the same picture; warns when they straddle the split")
        resolve_exact = action("Resolve All Exact Duplicates…", c.health.resolve_all_exact, None,
                               "Keep one of each set of identical files; move the others aside (Sort ▸ Undo puts back)")
        explain = action("Why This Prediction? (Heatmap)", lambda: c.explain.toggle(), "explain",
                         "Show where in the photo the model sees its predicted class")
        zoom_in = action("Bigger Thumbnails", lambda: self.grid.zoom_by(24))
        zoom_out = action("Smaller Thumbnails", lambda: self.grid.zoom_by(-24))
        bigger, smaller = key_sequences("zoom")  # one row of the table: Ctrl++ and Ctrl+-
        zoom_in.setShortcut(bigger)
        zoom_out.setShortcut(smaller)
        shortcuts = action("Keyboard Shortcuts", self.show_shortcuts, "help")
        quit_action = action("Quit", self.close, "quit")
        # Keys 1-9 label the selection; window-wide so they work wherever focus is in the main window.
        for key in SHORTCUTS["label"].keys:
            QShortcut(QKeySequence(key), self, lambda key=key: c.labelling.label_by_key(key))

        file_menu = self.menuBar().addMenu("&File")
        file_menu.addActions([self.new_project_action, self.open_project_action])
        file_menu.addSeparator()
        file_menu.addActions([self.add_folder_action, self.rescan_action])
        file_menu.addSeparator()
        file_menu.addAction(quit_action)
        edit_menu = self.menuBar().addMenu("&Edit")
        edit_menu.addActions([self.undo_action, self.redo_action, accept, clear, keep])
        select_all = action("Select All", self.grid.selectAll, "select_all")
        edit_menu.addAction(select_all)
        edit_menu.addSeparator()
        edit_menu.addActions([self.more_like_this_action, self.select_similar_action])
        class_menu = self.menuBar().addMenu("&Classes")
        class_menu.addAction(self.add_class_action)
        class_menu.addAction("Classes from Keywords…",
                             lambda: classes_from_keywords(self.context, c.labelling.undo_stack, self))
        class_menu.addAction("Write Classes to Sidecars…", c.tagging.write)
        class_menu.addAction("Undo Written Keywords", c.tagging.undo)
        model_menu = self.menuBar().addMenu("&Model")
        model_menu.addAction(self.train_action)
        model_menu.addAction(self.predict_action)
        model_menu.addAction(self.models_action)
        model_menu.addAction(explain)
        model_menu.addAction(review_labels)
        model_menu.addAction(find_duplicates)
        model_menu.addAction(self.check_photos_action)
        model_menu.addActions([resolve_exact, action("Resolve Near Duplicates…", c.health.resolve_near, None,
                                                     "Like Resolve All Exact Duplicates, for photos nearly alike too")])
        self.menuBar().addMenu(c.sorting.build_menu(self))
        view_menu = self.menuBar().addMenu("&View")
        view_menu.addActions([zoom_in, zoom_out])
        view_menu.addSeparator()
        view_menu.addAction(self.map_action)
        help_menu = self.menuBar().addMenu("&Help")
        help_menu.addAction(shortcuts)
        help_menu.addAction(f"About {APP_NAME}", self.show_about)

        toolbar = QToolBar("Main", self)
        toolbar.setObjectName("mainToolbar")
        toolbar.setMovable(False)
        toolbar.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
        toolbar.addActions([self.add_folder_action, self.add_class_action, self.train_action])
        toolbar.addSeparator()
        toolbar.addActions([self.undo_action, self.redo_action])
        self.addToolBar(toolbar)

    def _connect(self) -> None:
        """The window's own wiring: views the controllers ask for, the sidebar and bars that drive them. What one
        controller starts in another is wired where they are built (Controllers)."""
        c = self.controllers
        self.grid.selectionModel().currentChanged.connect(lambda *_: self._show_current())
        self.context.images.dataChanged.connect(self._on_images_changed)
        self.context.images.modelAboutToBeReset.connect(self._remember_current)
        self.context.images.modelReset.connect(self._on_images_reset)
        self.context.status_changed.connect(self._show_counts)
        self.context.folders_changed.connect(self.sidebar.folders.set_folders)
        self.context.model_changed.connect(self.context.refresh_counts)  # the disagreements count
        self.sidebar.filter_selected.connect(self._on_sidebar_filter)
        self.grid_keys = GridKeys(self, self.grid, [self.sidebar.view_clicked])  # keys act where the user looks
        self.sidebar.add_class_requested.connect(lambda: c.class_actions.add())
        self.sidebar.add_folder_requested.connect(self.choose_folders)
        self.sidebar.class_menu_requested.connect(c.class_actions.show_menu)
        self.sidebar.folder_menu_requested.connect(self._folder_menu)
        for views in (c.class_actions, c.duplicates, c.label_review, c.similar, c.collection_map):
            views.filter_requested.connect(self._on_filter)
        c.label_review.more_changed.connect(lambda text: (self.more_button.setText(text),
                                                          self.more_button.setVisible(bool(text))))
        c.collection_map.select_requested.connect(self.grid.select_ids)
        c.health.filter_requested.connect(self._on_finding_filter)
        c.health.findings_changed.connect(self.sidebar.set_findings)
        c.health.active_changed.connect(self.finding_bar.show_finding)
        self.sidebar.finding_selected.connect(c.health.show)
        self.finding_bar.dismiss_requested.connect(c.health.dismiss_selected)
        self.finding_bar.keep_one_requested.connect(c.health.keep_one)
        self.grid.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.grid.customContextMenuRequested.connect(self._grid_menu)
        self._backbones_loaded = False
        self.side_tabs.currentChanged.connect(self._on_side_tab)
        self.train_panel.show_images_requested.connect(  # a confusion cell: each photo says what put it there
            lambda title, ids, badges, notes: (
                self._on_filter(ImageFilter(Show.IDS, image_ids=tuple(ids), title=title)),
                self.context.images.set_badges(badges), self.context.images.set_notes(notes)))
        c.connect_messages(lambda text: self.statusBar().showMessage(text, 8000))

    # -- projects --------------------------------------------------------------------------------------
    def _project_may_change(self) -> bool:
        """False, having said what to wait for, while work that writes to the open project runs."""
        running = self.controllers.project_work()
        if running:
            QMessageBox.information(self, APP_NAME, f"Wait for {listing(running)} to finish "
                                    f"(or cancel {'them' if len(running) > 1 else 'it'}).")
        return not running

    def open_project_at(self, path: Path) -> bool:
        if not self._project_may_change():
            return False
        try:
            project = open_project(path)
        except ProjectError as exc:
            QMessageBox.critical(self, APP_NAME, str(exc))
            return False
        self.context.set_project(project)
        self.view_bar.hide()
        self.setWindowTitle(f"{project.name} — {APP_NAME}")
        LAST_PROJECT.write(self.settings, project.path)
        self.sidebar.select_all_photos()
        self._update_empty_state()
        return True

    def choose_project(self) -> None:
        if not self._project_may_change():  # said before the user picks a folder, not after
            return
        path = QFileDialog.getExistingDirectory(self, "Open a Pigeonhole project folder")
        if path:
            self.open_project_at(Path(path))

    def choose_new_project(self) -> None:
        if not self._project_may_change():
            return
        path, _ = QFileDialog.getSaveFileName(self, "New project", str(Path.home() / "Photos.pigeonhole"))
        if path:
            self.open_project_at(Path(path))

    def choose_folders(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Add a folder of photos")
        if path:
            self.controllers.importer.add_folders([Path(path)], self)

    def _folder_menu(self, folder: FolderInfo, position) -> None:
        menu = QMenu(self)
        menu.addAction("Show only this folder", lambda: self._on_filter(ImageFilter(Show.ALL, folder_id=folder.id)))
        menu.addAction("Re-link to a new location…", lambda: self._relink(folder))
        menu.addAction("Remove from project…", lambda: self._remove_folder(folder))
        menu.exec(position)

    def _relink(self, folder: FolderInfo) -> None:
        path = QFileDialog.getExistingDirectory(self, f"Where is “{folder.name}” now?")
        if not path:
            return
        try:
            found = relink_folder(self.context.project, folder.id, path)
        except FolderError as exc:
            QMessageBox.warning(self, APP_NAME, str(exc))
            return
        self.context.refresh_all()
        self.statusBar().showMessage(f"Re-linked “{folder.name}”: {found:,} of {folder.images:,} photos found.", 8000)

    def _remove_folder(self, folder: FolderInfo) -> None:
        answer = QMessageBox.question(
            self, "Remove folder",
            f"Remove “{folder.name}” and its {folder.images:,} photos from this project? Their labels in this "
            "project are forgotten; the files on disk are not touched.")
        if answer == QMessageBox.StandardButton.Yes:
            remove_folder(self.context.project, folder.id)
            self.controllers.labelling.undo_stack.clear()
            self.context.refresh_all()

    def show_models(self) -> None:
        from desktop.ui.models_dialog import ModelsDialog

        if self.context.project is None:
            return
        dialog = ModelsDialog(self.context, self)
        # Another model may now be active: its predictions fill in (photos it already predicted are skipped).
        dialog.models_changed.connect(self.controllers.use_new_model)
        dialog.exec()

    def show_training(self) -> None:
        self.map_placement.give_back_pane()  # on a narrow window the map may have taken the pane's place
        self.side_tabs.setCurrentWidget(self.train_panel)

    def train(self) -> None:
        """Ctrl+T (and the toolbar's Train): start training where its curves grow, or say why it cannot."""
        self.show_training()
        self.controllers.training.train_now()

    def _on_side_tab(self, index: int) -> None:
        if self.side_tabs.widget(index) is self.train_panel and not self._backbones_loaded:
            self._backbones_loaded = True  # the registry imports torch: only when the user opens this tab
            self.controllers.training.load_backbones()

    # -- reacting to the models ------------------------------------------------------------------------
    def _grid_with_view_title(self) -> QWidget:
        """The grid under a one-line bar naming views that are not a sidebar entry (a confusion-matrix cell,
        doubtful labels, near-duplicates), with a way back to every photo."""
        self.view_title = QLabel()
        self.view_title.setObjectName("hint")
        # A long view name wraps, never allowed to push the splitter (a confusion-matrix cell's title).
        self.view_title.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.view_title.setWordWrap(True)
        back = QPushButton("Show all photos")
        back.clicked.connect(self._show_all_photos)
        self.more_button = QPushButton()  # label review: the less certain ones too
        self.more_button.setToolTip("Also the labels the model is less sure about, after the likely mistakes.")
        self.more_button.clicked.connect(self.controllers.label_review.show_more)
        self.more_button.hide()
        self.view_bar = QWidget()
        bar = QHBoxLayout(self.view_bar)
        bar.setContentsMargins(8, 4, 8, 4)
        bar.addWidget(self.view_title, 1)
        bar.addWidget(self.more_button)
        bar.addWidget(back)
        self.view_bar.hide()
        container = QWidget()
        layout = QVBoxLayout(container)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        layout.addWidget(self.view_bar)
        layout.addWidget(self.finding_bar)
        layout.addWidget(self.grid, 1)
        return container

    def _show_all_photos(self) -> None:
        self.sidebar.select_all_photos()
        self._on_sidebar_filter(ImageFilter())

    def _on_sidebar_filter(self, image_filter: ImageFilter) -> None:
        self.view_bar.hide()
        self.controllers.health.leave()
        self.context.images.set_filter(image_filter)

    def _on_filter(self, image_filter: ImageFilter) -> None:
        """A view from elsewhere than the sidebar: the sidebar no longer describes it, the bar does."""
        self.sidebar.clear_selection()
        self.controllers.health.leave()
        self._show_view(image_filter)

    def _on_finding_filter(self, image_filter: ImageFilter) -> None:
        """A Check Photos finding: its sidebar entry stays marked, the finding bar offers what to do."""
        self._show_view(image_filter)
        self.sidebar.select_finding(self.controllers.health.active_kind)

    def _show_view(self, image_filter: ImageFilter) -> None:
        self.more_button.hide()  # it belongs to the view it was offered with
        self.view_title.setText(f"<b>{image_filter.title}</b>" if image_filter.title else "Filtered view")
        self.view_bar.show()
        self.context.images.set_filter(image_filter)
        self.grid_keys.focus_grid()  # chosen by a click elsewhere (a confusion cell, the map): keys act on it

    def _grid_menu(self, position) -> None:
        """Right-click on a photo: what can be done from it (it becomes the current photo unless selected)."""
        index = self.grid.indexAt(position)
        if not index.isValid():
            return
        if not self.grid.selectionModel().isSelected(index):
            self.grid.setCurrentIndex(index)
        menu = QMenu(self)
        menu.addActions([self.more_like_this_action, self.select_similar_action])
        if self.finding_bar.isVisible():
            menu.addSeparator()
            menu.addAction("Not a Problem", self.controllers.health.dismiss_selected)
            if self.finding_bar.keep_button.isVisible():
                menu.addAction("Keep One", self.controllers.health.keep_one)
        menu.exec(self.grid.viewport().mapToGlobal(position))

    def show_collection_map(self) -> None:
        """The map docks beside the grid, so its lasso never covers the photos it selects (MapBesideGrid)."""
        self.map_placement.show_map()
        self.controllers.collection_map.show_map()

    def _show_current(self) -> None:
        index = self.grid.currentIndex()
        if index.isValid() and not self._restoring_current:
            self.side_tabs.setCurrentWidget(self.preview)  # the user chose a photo: show it, even from Train
        if index.isValid():
            self.preview.show_row(index.data(Role.ROW), index.data(Role.LABEL))
            # One photo's rows of an indexed table: well under a millisecond.
            self.preview.show_keywords(keywords_of(self.context.project, index.data(Role.ROW).id)
                                       if self.context.project else [])
            self._show_prediction(index)
            self.controllers.explain.show_for(index.data(Role.ROW))
        else:
            self.preview.show_row(None, None)
            self.preview.show_prediction(None, None, {}, self.context.active_model is not None)

    def _show_prediction(self, index) -> None:
        row = index.data(Role.ROW)
        prediction = prediction_for(self.context.project, row.id) if self.context.project else None
        colours = {c.name: c.colour for c in self.context.classes.classes}
        self.preview.show_prediction(prediction, index.data(Role.LABEL), colours, self.context.active_model is not None)

    def _on_images_changed(self, top_left, bottom_right, roles) -> None:
        current = self.grid.currentIndex()
        if current.isValid() and top_left.row() <= current.row() <= bottom_right.row() and Role.LABEL in roles:
            self.preview.show_label(current.data(Role.LABEL))
            self._show_prediction(current)

    def _remember_current(self) -> None:
        index = self.grid.currentIndex()
        self._current_before_reset = index.data(Role.IMAGE_ID) if index.isValid() else None

    def _on_images_reset(self) -> None:
        """Stay on the photo the user was on (a retrain or new predictions reload the grid under them)."""
        self._update_empty_state()
        images = self.context.images
        if images.rowCount():
            kept = getattr(self, "_current_before_reset", None)
            row = images.row_of(kept) if kept is not None else None
            self._restoring_current = True  # the grid reloaded under the user: stay on the tab they look at
            try:
                self.grid.setCurrentIndex(images.index(row if row is not None else 0))
            finally:
                self._restoring_current = False
            if row is not None:
                self.grid.scrollTo(images.index(row))
        else:
            self.preview.show_row(None, None)

    def _show_counts(self, status: ProjectStatus) -> None:
        disagreements = None
        if self.context.active_model is not None and self.context.project is not None:
            disagreements = count_matching(self.context.project, ImageFilter(Show.DISAGREES))
        self.sidebar.filters.set_counts(status.images, status.unlabelled, status.broken, disagreements)
        parts = [f"{status.images:,} photo{'s' * (status.images != 1)}", f"{status.labelled:,} labelled",
                 f"{status.unlabelled:,} to label"]
        for count, what in ((status.broken, "cannot be read"), (status.missing, "missing"),
                            (status.set_aside, f"duplicate{'s' * (status.set_aside != 1)} moved aside")):
            parts += [f"{count:,} {what}"] if count else []
        self.counts_label.setText("  ·  ".join(parts))
        self._update_empty_state()

    def _update_empty_state(self) -> None:
        if self.context.project is None:
            self.grid.set_empty_text("No project open", "Use File ▸ New Project or Open Project.")
        elif self.context.status is not None and self.context.status.images == 0:
            self.grid.set_empty_text(
                "Add your photos",
                "Drop a folder of photos here, or press Ctrl+O.\nFolders organised as class_name/photo.jpg "
                "can bring their labels along.")
        elif self.context.images.image_filter.show == Show.UNLABELLED:
            self.grid.set_empty_text("Everything is labelled", "Nice work. Every readable photo has a label.")
        else:
            self.grid.set_empty_text("Nothing to show", "No photos match this view.")

    # -- window events ---------------------------------------------------------------------------------
    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        if any(Path(url.toLocalFile()).is_dir() for url in event.mimeData().urls()):
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:
        folders = [Path(url.toLocalFile()) for url in event.mimeData().urls() if Path(url.toLocalFile()).is_dir()]
        if folders:
            self.controllers.importer.add_folders(folders, self)
            event.acceptProposedAction()

    def show_shortcuts(self) -> None:
        ShortcutsDialog(self).exec()

    def show_about(self) -> None:
        from desktop import __version__

        QMessageBox.about(self, f"About {APP_NAME}",
                          f"<b>{APP_NAME} {__version__}</b><p>Sort photos with an image classifier you train "
                          "yourself, on your own computer.</p>")

    def _restore_state(self) -> None:
        restore_window(self, self.settings)  # where it still fits this screen, else a first size from the screen
        self.map_placement.update()  # a map left docked: the photo pane makes room before the window is laid out
        state = WINDOW_SPLITTER.read(self.settings)
        if state is not None:
            self._splitter_restored = self.splitter.restoreState(state)
        tile = THUMBNAIL_SIZE.read(self.settings)
        if tile:
            self.grid.set_tile_size(tile)

    def showEvent(self, event) -> None:
        super().showEvent(event)
        if not self._splitter_restored:  # the first start: share the real width, not a guess made before it
            self._splitter_restored = True
            self.splitter.setSizes(splitter_sizes(self.splitter.width()))

    def closeEvent(self, event: QCloseEvent) -> None:
        self.controllers.shutdown()
        save_window(self, self.settings)
        WINDOW_SPLITTER.write(self.settings, self.splitter.saveState())
        THUMBNAIL_SIZE.write(self.settings, self.grid.preferred_tile)
        if self.context.thumbnails is not None:
            self.context.thumbnails.wait_idle(2000)
        self.preview.wait_idle(2000)
        self.context.close()
        super().closeEvent(event)
