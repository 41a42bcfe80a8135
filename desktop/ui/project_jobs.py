"""One shape for a controller's background job over the open project, its steps on a status-bar line: the
health check, More like this's index and the collection map each start theirs through ``start_project_job``.

The job runs ``work(project, on_progress, cancel)`` (a core function; torch is imported in the worker). Its
``Progress`` events move the line's bar; the result reaches ``on_done`` only while the same project is open (a
project closed meanwhile gets nothing); failing or cancelling is one sentence for ``on_failed``/``on_cancelled``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, TypeVar

from desktop.core.project import Project
from desktop.progress import Progress
from desktop.ui.context import ProjectContext
from desktop.ui.widgets.status_progress import StatusProgress
from desktop.ui.workers import Emit, WorkerSlot

ResultT = TypeVar("ResultT")


def start_project_job(task: WorkerSlot, context: ProjectContext, progress: StatusProgress,
                      work: Callable[[Project, Emit, threading.Event], ResultT], *, starting: str,
                      step: Callable[[Progress], str], on_done: Callable[[ResultT], None],
                      on_failed: Callable[[str], None], on_cancelled: Callable[[], None]) -> bool:
    """Start ``work`` for the open project in ``task``; False when no project is open or ``task`` is busy.
    ``starting``: the line's text until the first step; ``step(event)``: its text at each step."""
    project = context.project
    if project is None or task.busy:
        return False

    def done(result: Any) -> None:
        if context.project is project:
            on_done(result)

    def show(event: Progress) -> None:
        progress.show_step(step(event), event.done, event.total)

    progress.show_step(starting, 0, 0)
    task.start(lambda emit, cancel: work(project, emit, cancel), on_done=done, on_progress=show,
               progress_type=Progress, on_failed=on_failed, on_cancelled=on_cancelled, on_finished=progress.hide)
    return True
