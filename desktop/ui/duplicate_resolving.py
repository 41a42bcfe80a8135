"""Resolving duplicate groups in the app (Check Photos' Keep one, Model ▸ Resolve All Exact Duplicates…, Model ▸
Resolve Near Duplicates…, whose similarity and keeper rule ``ui.near_duplicates_dialog`` asks for): the plan
is made in a worker (``core.duplicate_resolving``), shown as one sentence to confirm — how many files move where —,
then the extras are moved aside in a worker as a sort, so Sort ▸ Undo Last Sort puts them back, after a restart
too, and an interrupted move is offered for resume like any sort."""

from __future__ import annotations

from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QWidget

from desktop.progress import Progress
from desktop.ui.context import ProjectContext
from desktop.ui.questions import ask_before
from desktop.ui.widgets.status_progress import StatusProgress
from desktop.ui.workers import WorkerSlot
from desktop.wording import plural


class DuplicateResolver(QObject):
    message = Signal(str)
    resolved = Signal(object)  # desktop.core.sorting.SortResult: some extras were moved aside

    def __init__(self, context: ProjectContext, progress: StatusProgress, window: QWidget, parent=None) -> None:
        super().__init__(parent)
        self.context, self.progress, self.window = context, progress, window
        self.planning = WorkerSlot(self)
        self.moving = WorkerSlot(self)
        self.moving_ids: set[int] = set()  # the photos of the last move aside
        progress.cancel_button.clicked.connect(self.planning.cancel)
        progress.cancel_button.clicked.connect(self.moving.cancel)

    @property
    def busy(self) -> bool:
        return self.planning.busy or self.moving.busy

    def resolve(self, groups: list[list[int]] | None, keepers: dict[int, int] | None = None, *,
                similarity: float | None = None, keeper_rule: str | None = None) -> None:
        """Plan, ask, move. ``groups`` of image ids (None: every group of exact copies, or with ``similarity``
        every group of photos at least that alike — reading features first), ``keepers``: group index → the
        photo to keep (else ``keeper_rule``, by default a labelled one, then the largest)."""
        project = self.context.project
        if project is None or self.busy:
            return

        def job(emit, cancel):
            from desktop.core.duplicate_resolving import DEFAULT_KEEPER, exact_groups, near_groups, plan_resolution

            if groups is not None:
                found = groups
            elif similarity is not None:
                found = near_groups(project, similarity, on_progress=emit, cancel=cancel)
            else:
                found = exact_groups(project)
            return plan_resolution(project, found, keeper_rule or DEFAULT_KEEPER, keepers=keepers) if found else None

        def reading(event: Progress) -> None:
            self.progress.show_step(f"Reading features of {event.done:,} of {event.total:,} photos",
                                    event.done, event.total)

        def planned(resolution) -> None:
            if self.context.project is not project:
                return
            if resolution is None or not resolution.plan.photos:
                self.message.emit("There are no duplicates to move aside." if resolution is None
                                  else resolution.sentence)
                return
            them = "it" if len(resolution.plan.photos) == 1 else "them"
            text = f"{resolution.sentence} Sort ▸ Undo Last Sort puts {them} back."
            mixed = resolution.mixed
            if mixed and groups is None:  # Keep one asked already; here the preview names them, Cancel the default
                named = "; ".join(" and ".join(f"'{name}'" for name in group.labels) for group in mixed[:3])
                more = f"; and {len(mixed) - 3:,} more" if len(mixed) > 3 else ""
                text += (f"\n\n{plural(len(mixed), 'group')} {'mixes' if len(mixed) == 1 else 'mix'} labels "
                         f"({named}{more}): the other photos move too, their labels kept for the undo.")
            if self.confirm(text):
                self._move(project, resolution)

        self.progress.show_step("Finding what to move aside…", 0, 0)
        self.planning.start(job, on_done=planned, on_progress=reading, progress_type=Progress,
                            on_finished=self.progress.hide,
                            on_failed=lambda error: self.message.emit(f"Could not plan moving the duplicates: {error}"),
                            on_cancelled=lambda: self.message.emit("Nothing was moved."))

    def _move(self, project, resolution) -> None:
        self.moving_ids = {op.image_id for op in resolution.plan.photos}  # for the findings they resolve
        def job(emit, cancel):
            from desktop.core.duplicate_resolving import resolve

            return resolve(project, resolution, mixed_labels=True, on_progress=emit, cancel=cancel)

        def done(result) -> None:
            if result.done:
                self.resolved.emit(result)
            them = "it" if result.done == 1 else "them"
            undo = f" Sort ▸ Undo Last Sort puts {them} back." if result.done and not result.cancelled else ""
            self.message.emit(result.message + undo)

        def show(progress) -> None:
            self.progress.show_step(f"Moving duplicates aside: {progress.done:,} of {progress.total:,}",
                                    progress.done, progress.total)

        self.progress.show_step("Moving duplicates aside…", 0, 0)
        self.moving.start(job, on_done=done, on_progress=show, on_finished=self.progress.hide,
                          on_failed=lambda error: self.message.emit(f"Could not move the duplicates: {error}"))

    def confirm(self, text: str) -> bool:
        """"Move" or "Cancel" (the default) under the preview sentence; tests answer instead of a user."""
        return ask_before(self.window, "Move duplicates aside", text, "Move")

    def shutdown(self) -> None:
        self.planning.shutdown()
        self.moving.shutdown()
