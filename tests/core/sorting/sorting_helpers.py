"""Test helpers for desktop.core.sorting: plan, journal and run a sort in one call."""

from __future__ import annotations

from collections.abc import Callable

from desktop.core.project import Project
from desktop.core.sorting import SortProgress, SortRequest, SortResult, plan_sort, sort_plan
from desktop.progress import CancelToken


def sort_photos(project: Project, request: SortRequest, *, dry_run: bool = False,
                on_progress: Callable[[SortProgress], None] | None = None,
                cancel: CancelToken | None = None) -> SortResult:
    """What `pigeonhole sort` does: plan, then journal and run under one hold of the sorting lock
    (``sort_plan``); a dry run only plans."""
    plan = plan_sort(project, request)
    if dry_run:
        return plan.as_result()
    return sort_plan(project, plan, on_progress, cancel)
