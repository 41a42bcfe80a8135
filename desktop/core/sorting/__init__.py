"""Sorting photos into class folders: plan, journal, copy or move, resume after a crash, and undo.

The package: ``model`` (what callers see: requests, plans, results, states), ``plan`` (where each photo would
go; reads only), ``settings`` (``SortSettings``: the sort record's settings, typed), ``stops`` (``StopKind``:
why a run stops early, and the one table of what to tell the user), ``journal`` (the sort's rows in the project
database: ``SortRecord``, ``Op``; the one-sort-per-project lock), ``steps`` (``SortRun``: each photo's state
machine, forward and back), ``execute`` (``sort_plan``: journal a plan and run it under one hold of the lock;
``start_sort``, ``run_sort`` = run or resume, ``undo_sort``: one loop for both ways). The file primitives it
relies on (hash, copy with fsync, publishing without overwriting, settling after a crash) are
``desktop.io.safe_files``.

The safety contract, how a photo is kept safe whatever happens:

- Nothing is ever overwritten. A file gets its final name from a primitive that fails when the name is
  taken: a hard link, or (on drives without hard links) an O_EXCL placeholder that only our own file replaces.
- A source is deleted only once the photo is reachable at its destination: under a second name of the same
  file (a hard link on the same drive), or as an identical, fsynced copy on another drive.
- Journal before acting: every file operation is in the journal before the disk is touched: the whole plan as
  ``planned`` rows, then each operation as ``started`` with its exact destination, in a commit that is on disk
  (synchronous=FULL).
  After a crash only ``started`` operations can be half done, and the disk says which half: the photo reached
  its destination, or it did not and what is left is a temp file or an empty placeholder of ours.
- Cleanup only ever removes what is provably redundant: our temp files (never the only copy), empty
  placeholders, a second name of a file that still has its first, or a copy verified against a kept original.
- One sort per project at a time, across processes (the GUI and the CLI alike): ``exclusive_sorting`` holds
  the lock file ``.sort.lock`` in the project folder, which the operating system frees when its holder dies.
- What is moved is what was planned: before each operation the source must still be the same regular file
  (never a link or a FIFO put in its place) with the planned content, and the destination folders must still be
  real folders (never a link put in their place), or the photo is left where it is with a reason.
- A full or failing project disk stops the run like a full destination: the journal is left as the last commit
  wrote it, which the disk reconciles on resume or undo (crash settle: ``run_sort`` again, or ``undo_sort``).
- Undo puts moves back byte for byte (beside their old place when a file now has that name) and deletes a copy
  only when it is unchanged and its original is still there.
"""

from desktop.core.sorting.execute import run_sort, sort_plan, start_sort, undo_sort
from desktop.core.sorting.journal import (
    exclusive_sorting,
    interrupted_sorts,
    list_sorts,
    sort_in_progress,
    sort_result,
)
from desktop.core.sorting.model import (
    BUSY_MESSAGE,
    COPY,
    DEFAULT_PRECISION,
    DEFAULT_THRESHOLD,
    DRY_RUN,
    MAX_RENAMES,
    MOVE,
    SET_ASIDE_RULE,
    SORT_LOCK_NAME,
    UNFINISHED,
    UNSURE,
    OpState,
    PlannedOperation,
    SortError,
    SortFailure,
    SortPlan,
    SortProgress,
    SortRequest,
    SortResult,
    SortStatus,
    SortSummary,
    UndoResult,
    describe_rule,
    fraction_problem,
)
from desktop.core.sorting.plan import plan_sort
from desktop.core.sorting.precision_rule import mistakes_sentence

__all__ = [
    "BUSY_MESSAGE", "COPY", "DEFAULT_PRECISION", "DEFAULT_THRESHOLD", "DRY_RUN", "MAX_RENAMES", "MOVE",
    "SET_ASIDE_RULE", "SORT_LOCK_NAME", "UNFINISHED", "UNSURE", "OpState", "PlannedOperation", "SortError",
    "SortFailure", "SortPlan", "SortProgress", "SortRequest", "SortResult", "SortStatus", "SortSummary",
    "UndoResult", "describe_rule",
    "exclusive_sorting", "fraction_problem", "interrupted_sorts", "list_sorts", "mistakes_sentence", "plan_sort",
    "run_sort", "sort_in_progress", "sort_plan", "sort_result", "start_sort", "undo_sort",
]
