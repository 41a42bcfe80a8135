"""Model ▸ Check Photos: ``desktop.core.health.check_photos`` in a worker; each kind of finding becomes a sidebar
view with a count, showing its photos in the grid with a one-line reason each.

"Not a problem" dismisses the selected photos (all shown, when none is selected) for good, a command on the
labelling undo stack (Ctrl+Z brings the flags back). "Keep one" moves the other photos of each duplicate group
touched by the selection aside (``ui.duplicate_resolving``: a preview to confirm, then a sort that Sort ▸ Undo
Last Sort puts back), asking first when a group's photos carry different labels; Model ▸ Resolve All Exact
Duplicates and Resolve Near Duplicates do the same for every group of the project at once. The last scan comes back when
the project opens (read in a worker), marked out of date when photos changed since.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QUndoCommand, QUndoStack

from desktop.core.browse import ImageFilter, Show
from desktop.progress import Progress
from desktop.ui.context import ProjectContext
from desktop.ui.duplicate_resolving import DuplicateResolver
from desktop.ui.models.images import GroupMark
from desktop.ui.project_jobs import start_project_job
from desktop.ui.questions import ask_before
from desktop.ui.widgets.grid import ThumbnailGrid
from desktop.ui.widgets.status_progress import StatusProgress
from desktop.ui.workers import WorkerGroup, WorkerSlot
from desktop.wording import plural

GROUPED = ("exact_duplicates", "near_duplicates")  # findings with a keeper: "Keep one" applies
NEAR = "resolve near"  # Resolve Near Duplicates is running: the groups its move leaves single are resolved


def _step_text(event: Progress) -> str:
    """The status-bar line during a check: its two phases, reading features and checking the photos."""
    what = "Checking" if event.phase.startswith("checking") else "Reading features of"
    return f"{what} {event.done:,} of {event.total:,} photos"


@dataclass(frozen=True)
class FindingView:
    """One sidebar entry: a kind of finding, how many photos (classes, for imbalance) it flags, what it means."""

    kind: str
    title: str
    count: int
    tooltip: str
    grouped: bool  # duplicate groups with a suggested keeper: "Keep one" applies
    explanation: str = ""  # what the kind means and what to do, over the grid
    groups: int = 1  # how many findings (duplicate groups) the view holds
    stale: str = ""  # a restored check whose photos changed since: the sentence saying so ("" when current)

    @property
    def flags_classes(self) -> bool:
        """Class imbalance flags classes, not photos: nothing to hover or to show in the grid."""
        return self.kind == "class_imbalance"

    @property
    def heading(self) -> str:
        """The grid's title while the view is shown: "Near duplicates — 26 photos in 5 groups"."""
        counted = plural(self.count, "photo")
        if self.flags_classes:
            counted = f"{self.count:,} class{'es' * (self.count != 1)}"
        groups = f" in {self.groups:,} groups" if self.grouped and self.groups > 1 else ""
        return f"{self.title} — {counted}{groups}"


class HealthController(QObject):
    message = Signal(str)
    filter_requested = Signal(object)  # ImageFilter: a finding's photos
    notes_changed = Signal(object)  # dict: image id -> the one-line reason it was flagged
    groups_changed = Signal(object)  # dict: image id -> GroupMark, for duplicate groups (the grid marks them)
    findings_changed = Signal(list)  # list[FindingView], for the sidebar
    active_changed = Signal(object)  # the FindingView shown in the grid, or None
    photos_removed = Signal()  # "Keep one" changed which photos the project holds

    def __init__(self, context: ProjectContext, grid: ThumbnailGrid, undo_stack: QUndoStack,
                 progress: StatusProgress, parent=None) -> None:
        super().__init__(parent)
        self.context, self.grid, self.undo_stack, self.progress = context, grid, undo_stack, progress
        self.task = WorkerSlot(self)
        self.restoring = WorkerGroup(self)  # the last scan, read when a project opens
        self.findings: list = []  # desktop.core.health.Finding, as the scan returned them less what was resolved
        self.stale = ""  # the findings were restored and photos changed since: why, in one sentence
        self.active_kind: str | None = None
        self._generation = 0  # a new project or a new scan: an older restore is not applied
        progress.cancel_button.clicked.connect(self.task.cancel)
        context.project_changed.connect(self._forget)
        self.resolver = DuplicateResolver(context, progress, grid, self)
        self.resolver.message.connect(self.message)
        self.resolver.resolved.connect(self._on_resolved)
        self._resolving: set[int] = set()  # id() of the findings being resolved
        self._resolving_kind: str | None = None

    @property
    def busy(self) -> bool:
        return self.task.busy

    # -- the scan --------------------------------------------------------------------------------------
    def check(self) -> None:
        def scan(project, emit, cancel):
            from desktop.core.health import check_photos  # torch (features): in the worker thread

            return check_photos(project, on_progress=emit, cancel=cancel)

        def done(report) -> None:
            self._generation += 1
            self._on_report(report)

        start_project_job(self.task, self.context, self.progress, scan, starting="Checking the photos…",
                          step=_step_text, on_done=done,
                          on_failed=lambda error: self.message.emit(f"Could not check the photos: {error}"),
                          on_cancelled=lambda: self.message.emit("Stopped checking the photos."))

    def _on_report(self, report, restored: bool = False) -> None:
        self.findings = list(report.findings)
        self.stale = report.stale
        self.active_kind = None
        views = self.views()
        flagged = sum(view.count for view in views if view.kind != "class_imbalance")
        hidden = f" ({report.dismissed} marked 'not a problem' before are left out)" if report.dismissed else ""
        if restored:
            if views:
                self.message.emit(" ".join(filter(None, [
                    f"The last check found {flagged:,} flags in {len(views)} kinds: they are in the sidebar "
                    "under Check.", report.stale])))
        elif views:
            text = (f"Checked {report.photos_checked:,} photos: {flagged:,} flags in {len(views)} kinds{hidden}. "
                    "They are in the sidebar under Check; nothing is excluded.")
            self.message.emit(" ".join([text, *report.notes]))
        else:
            text = f"Checked {report.photos_checked:,} photos: nothing to look at{hidden}."
            self.message.emit(" ".join([text, *report.notes]))
        self.findings_changed.emit(views)

    def _forget(self) -> None:
        self.task.cancel()
        self._generation += 1
        self.findings = []
        self.stale = ""
        self.active_kind = None
        self.findings_changed.emit([])
        self.active_changed.emit(None)
        self._restore()

    def _restore(self) -> None:
        """Bring back the project's last scan (off the GUI thread: telling whether photos changed reads them all)."""
        project, generation = self.context.project, self._generation
        if project is None:
            return

        def job(_emit, _cancel):
            from desktop.core.health import last_check

            return last_check(project)

        def done(report) -> None:
            if report is not None and generation == self._generation and self.context.project is project:
                self._on_report(report, restored=True)

        self.restoring.start(job, on_done=done)

    # -- views -----------------------------------------------------------------------------------------
    def views(self) -> list[FindingView]:
        """One entry per kind present, in the core's order of kinds."""
        from desktop.core.health import EXPLANATIONS, KINDS

        entries = []
        for kind, title in KINDS.items():
            found = [finding for finding in self.findings if finding.kind == kind]
            if not found:
                continue
            count = sum(len(f.photos) or len(f.keys) for f in found)
            tooltip = found[0].summary if len(found) == 1 else EXPLANATIONS[kind]
            if self.stale:
                tooltip = f"{self.stale}\n{tooltip}"
            entries.append(FindingView(kind, title, count, tooltip, kind in GROUPED, EXPLANATIONS[kind], len(found),
                                       self.stale))
        return entries

    def view_of(self, kind: str) -> FindingView | None:
        return next((view for view in self.views() if view.kind == kind), None)

    def show(self, kind: str) -> None:
        """Show a kind's photos in the grid (groups one after another, the suggested keeper first)."""
        view = self.view_of(kind)
        if view is None:
            return
        self.active_kind = kind
        found = [finding for finding in self.findings if finding.kind == kind]
        ids, notes, groups = [], {}, {}
        for number, finding in enumerate(found, start=1):
            photos = sorted(finding.photos, key=lambda photo: photo.image_id != finding.keeper_id)
            for photo in photos:
                ids.append(photo.image_id)
                notes[photo.image_id] = f"{view.title}: {photo.reason}"
                if kind in GROUPED or kind == "split_leak":
                    groups[photo.image_id] = GroupMark(number, len(photos), photo.image_id == finding.keeper_id)
        self.active_changed.emit(view)
        if not ids:  # class imbalance flags classes, not photos
            self.message.emit(view.tooltip)
            return
        self.filter_requested.emit(ImageFilter(Show.IDS, image_ids=tuple(ids), review=True,
                                               title=view.heading))
        self.notes_changed.emit(notes)  # after the filter: a new filter clears the notes (and the groups)
        if groups:
            self.groups_changed.emit(groups)

    # -- not a problem ---------------------------------------------------------------------------------
    def dismiss_selected(self) -> None:
        """The selected photos of the finding shown are fine (every photo shown when none is selected)."""
        kind = self.active_kind
        if kind is None or self.context.project is None:
            return
        chosen = set(self.grid.selected_ids())
        found = [finding for finding in self.findings if finding.kind == kind]
        keys = [key for finding in found for key in (
            [photo.content_hash for photo in finding.photos if not chosen or photo.image_id in chosen]
            if finding.photos else finding.keys)]
        if not keys:
            return
        self.undo_stack.push(_DismissCommand(self, kind, keys))

    def _apply_dismissal(self, kind: str, keys: set[str], before: list | None) -> list:
        """Drop (or with ``before``, restore) the dismissed flags; returns the findings as they were."""
        previous = list(self.findings)
        if before is not None:
            self.findings = before
            self.active_kind = kind  # undone: show the flags again where they were
        else:
            kept = []
            for finding in self.findings:
                if finding.kind != kind:
                    kept.append(finding)
                    continue
                photos = [photo for photo in finding.photos if photo.content_hash not in keys]
                left = [key for key in finding.keys if key not in keys]
                if (finding.kind in GROUPED and len(photos) < 2) or not (photos or (left and not finding.photos)):
                    continue
                kept.append(replace(finding, photos=photos, keys=left))
            self.findings = kept
        self._refresh(kind)
        return previous

    # -- keep one --------------------------------------------------------------------------------------
    def keep_one(self) -> None:
        """Each duplicate group touched by the selection keeps one photo: the one selected when it is the only
        one of its group, else the suggested keeper. With nothing selected, every group shown."""
        if self.active_kind not in GROUPED or self.context.project is None:
            self.message.emit("Keep One is for duplicate groups: show Exact or Near duplicates first.")
            return
        chosen = set(self.grid.selected_ids())
        plan = []
        for finding in self.findings:
            if finding.kind != self.active_kind:
                continue
            members = [photo.image_id for photo in finding.photos]
            picked = [image_id for image_id in members if image_id in chosen]
            if chosen and not picked:
                continue
            keeper = picked[0] if len(picked) == 1 else finding.keeper_id
            plan.append((finding, members, keeper))
        if plan and not self.resolver.busy and self._labels_allow(plan):
            self._resolving = {id(finding) for finding, _members, _keeper in plan}
            self._resolving_kind = self.active_kind
            self.resolver.resolve([members for _finding, members, _keeper in plan],
                                  {index: keeper for index, (_f, _m, keeper) in enumerate(plan)})

    def resolve_all_exact(self) -> None:
        """Every group of identical files keeps one photo (a labelled one, then the largest); one preview."""
        self._resolving, self._resolving_kind = set(), None
        self.resolver.resolve(None)

    def resolve_near(self) -> None:
        """Every group of photos at least as alike as the user says keeps one, by the rule they pick; one
        preview, one undo."""
        from desktop.ui.near_duplicates_dialog import NearDuplicatesDialog

        if self.context.project is None or self.resolver.busy:
            return
        choice = NearDuplicatesDialog.ask(self.grid.window())
        if choice is not None:
            self._resolving, self._resolving_kind = set(), NEAR
            self.resolver.resolve(None, similarity=choice.similarity, keeper_rule=choice.keeper_rule)

    def _on_resolved(self, _result) -> None:
        """Photos were moved aside: the groups Keep one resolved leave the findings, the views follow."""
        everything = self._resolving_kind is None  # every group of identical files
        moved = self.resolver.moving_ids if self._resolving_kind == NEAR else set()
        self.findings = [finding for finding in self.findings if id(finding) not in self._resolving
                         and not (everything and finding.kind == "exact_duplicates")
                         and not (finding.kind in GROUPED
                                  and sum(photo.image_id not in moved for photo in finding.photos) < 2)]
        if self._resolving_kind == NEAR:
            self._resolving_kind = self.active_kind
        self.photos_removed.emit()
        self.context.refresh_all()
        self._refresh(self._resolving_kind or self.active_kind)

    def _labels_allow(self, plan: list) -> bool:
        """True when no group would lose a label, or the user says to go ahead: a group whose photos carry
        different labels (or whose keeper has none while another has one) asks first, naming the labels."""
        from desktop.core.labels import labels_of

        names = {info.id: info.name for info in self.context.classes.classes}
        labels = labels_of(self.context.project, [i for _finding, members, _keeper in plan for i in members])
        mixed = []
        for _finding, members, keeper in plan:
            given = [labels[i] for i in members]
            distinct = sorted({names.get(c, "?") for c in given if c is not None})
            if len(distinct) > 1 or (labels[keeper] is None and distinct):
                mixed.append(distinct + ["no label"] * (labels[keeper] is None))
        if not mixed:
            return True
        listed = [" and ".join(f"'{name}'" if name != "no label" else name for name in group) for group in mixed]
        shown = "; ".join(listed[:3]) + (f"; and {len(listed) - 3} more groups" if len(listed) > 3 else "")
        groups = "This group mixes" if len(mixed) == 1 else f"{len(mixed)} groups mix"
        return self.ask(f"{groups} labels: {shown}. Keep one moves the other photos aside, out of the project; "
                        "their labels are kept, and Sort ▸ Undo Last Sort brings them back.")

    def ask(self, text: str) -> bool:
        """"Keep one" or "Cancel" (the default) under ``text``; tests answer instead of a user."""
        return ask_before(self.grid, "Photos labelled differently", text, "Keep one")

    def leave(self) -> None:
        """The grid shows something else now: no finding is active."""
        if self.active_kind is not None:
            self.active_kind = None
            self.active_changed.emit(None)

    def _refresh(self, kind: str | None = None) -> None:
        self.findings_changed.emit(self.views())
        if kind is not None and kind == self.active_kind:
            if self.view_of(kind) is not None:
                self.show(kind)
            else:
                self.active_kind = None
                self.active_changed.emit(None)
                self.filter_requested.emit(ImageFilter(Show.IDS, title="Nothing left to look at here"))

    def shutdown(self) -> None:
        self.task.shutdown()
        self.restoring.shutdown()
        self.resolver.shutdown()


class _DismissCommand(QUndoCommand):
    """"Not a problem", kept in the project; undo takes the mark back."""

    def __init__(self, controller: HealthController, kind: str, keys: list[str]) -> None:
        super().__init__(f"Not a problem: {len(keys)} photos" if len(keys) > 1 else "Not a problem")
        self.controller, self.kind, self.keys = controller, kind, keys
        self.before: list | None = None

    def redo(self) -> None:
        from desktop.core.health import dismiss

        dismiss(self.controller.context.project, self.kind, self.keys)
        self.before = self.controller._apply_dismissal(self.kind, set(self.keys), None)
        self.controller.message.emit(f"Marked {len(self.keys)} as not a problem; Ctrl+Z takes it back.")

    def undo(self) -> None:
        from desktop.core.health import undismiss

        undismiss(self.controller.context.project, self.kind, self.keys)
        self.controller._apply_dismissal(self.kind, set(), self.before)
