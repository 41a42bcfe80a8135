"""Adding folders from the GUI: a background import with progress and cancel in the status bar."""

from __future__ import annotations

import time
from pathlib import Path

from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QMessageBox, QWidget

from desktop.core.importer import ImportProgress, ImportSummary, import_folder
from desktop.core.keywords import KeywordScan, read_keywords
from desktop.io.scan import class_subfolders
from desktop.ui.context import ProjectContext
from desktop.ui.widgets.status_progress import StatusProgress
from desktop.ui.workers import WorkerSlot
from desktop.wording import plural

PROGRESS_INTERVAL = 0.1  # seconds between progress signals: enough for a smooth bar, cheap for the GUI


class ImportProgressWidget(StatusProgress):
    """Lives in the status bar while an import runs."""

    def show_progress(self, progress: ImportProgress, queued: int) -> None:
        name = Path(progress.folder).name
        more = f" (+{plural(queued, 'more folder')})" if queued else ""
        if progress.scanning:
            self.text.setText(f"Looking for photos in {name}… {progress.seen:,} found{more}")
            self.bar.setRange(0, 0)
        else:
            broken = f", {progress.broken} cannot be read" if progress.broken else ""
            self.text.setText(f"Importing {name}: {progress.processed:,} of {progress.to_process:,}{broken}{more}")
            self.bar.setRange(0, max(1, progress.to_process))
            self.bar.setValue(progress.processed)


class ImportController(QObject):
    finished = Signal(object)  # ImportSummary
    message = Signal(str)

    def __init__(self, context: ProjectContext, progress_widget: ImportProgressWidget, parent=None) -> None:
        super().__init__(parent)
        self.context = context
        self.widget = progress_widget
        self.widget.cancel_button.clicked.connect(self.cancel)
        self.task = WorkerSlot(self)
        self.queue: list[tuple[Path, bool]] = []
        self.summaries: list[ImportSummary] = []
        self.ask_about_subfolders = True  # tests switch the question off

    @property
    def busy(self) -> bool:
        return self.task.busy

    def add_folders(self, folders: list[Path], parent_widget: QWidget | None = None) -> None:
        for folder in folders:
            if not folder.is_dir():
                self.message.emit(f"{folder} is not a folder.")
                continue
            self.queue.append((folder, self._labels_from_subfolders(folder, parent_widget)))
        self._start_next()

    def _labels_from_subfolders(self, folder: Path, parent_widget: QWidget | None) -> bool:
        names = class_subfolders(folder)
        if not names:
            return False
        if not self.ask_about_subfolders:
            return True
        shown = ", ".join(names[:6]) + ("…" if len(names) > 6 else "")
        answer = QMessageBox.question(
            parent_widget, "Use subfolders as labels?",
            f"“{folder.name}” is organised in subfolders: {shown}.\n\n"
            "Use the subfolder names as classes and label each photo with its subfolder?",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No, QMessageBox.StandardButton.Yes)
        return answer == QMessageBox.StandardButton.Yes

    def cancel(self) -> None:
        self.queue.clear()
        if self.task.busy:
            self.task.cancel()
            self.widget.text.setText("Cancelling…")

    def _start_next(self) -> None:
        if self.task.busy or not self.queue or self.context.project is None:
            return
        folder, from_subfolders = self.queue.pop(0)
        project = self.context.project

        def job(emit, cancel) -> tuple[ImportSummary, KeywordScan | None]:
            last = 0.0

            def throttled(progress: ImportProgress) -> None:
                nonlocal last
                now = time.monotonic()
                if now - last >= PROGRESS_INTERVAL or progress.processed == progress.to_process:
                    last = now
                    emit(ImportProgress(**vars(progress)))  # a copy: the core keeps mutating its own

            summary = import_folder(project, folder, labels_from_subfolders=from_subfolders,
                                    on_progress=throttled, cancel=cancel)
            if summary.cancelled:
                return summary, None
            return summary, read_keywords(project, summary.folder_id, cancel=cancel.is_set)

        self.widget.text.setText(f"Looking for photos in {folder.name}…")
        self.widget.show()
        self.task.start(job, on_progress=lambda p: self.widget.show_progress(p, len(self.queue)),
                        on_done=self._on_done, on_failed=self._on_failed, on_finished=self._on_thread_finished)

    def _on_done(self, result: tuple[ImportSummary, KeywordScan | None]) -> None:
        summary, keywords = result
        self.summaries.append(summary)
        self.context.refresh_all()
        parts = [f"{summary.imported:,} photos imported"]
        if summary.unchanged:
            parts.append(f"{summary.unchanged:,} unchanged")
        if summary.labelled:
            parts.append(f"{summary.labelled:,} labelled from subfolders")
        if keywords is not None and keywords.with_keywords:
            parts.append(f"{keywords.with_keywords:,} with keywords (Classes ▸ Classes from Keywords…)")
        if keywords is not None and keywords.problems:
            parts.append(f"{plural(len(keywords.problems), 'keyword file')} could not be read")
        if summary.broken:
            parts.append(f"{summary.broken:,} cannot be read (see “Cannot read”)")
        if summary.missing:
            parts.append(f"{summary.missing:,} missing since the last scan")
        prefix = "Import cancelled: " if summary.cancelled else f"{Path(summary.folder).name}: "
        cache = f" {summary.cache_warning}" if summary.cache_warning else ""  # the photos are in all the same
        self.message.emit(prefix + ", ".join(parts) + "." + cache)
        self.finished.emit(summary)

    def _on_failed(self, error: str) -> None:
        self.message.emit(f"Import failed: {error}")

    def _on_thread_finished(self) -> None:
        if self.queue:
            self._start_next()
        else:
            self.widget.hide()

    def rescan_all(self) -> None:
        if self.context.project is None:
            return
        from desktop.core.folders import list_folders

        for folder in list_folders(self.context.project):
            if folder.available:
                self.queue.append((folder.root, False))
        self._start_next()

    def shutdown(self) -> None:
        self.queue.clear()
        self.task.shutdown()
