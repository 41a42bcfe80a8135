"""Sort ▸ in the app: the sort dialog, its history, the interrupted-sort banner and the Sort menu's controller.

The package, one idea a module (each imports only those above it):
- ``text``: the words the views share (plurals, the mode's verbs, percentages);
- ``models``: the preview, per-class counts and history table models, on ``desktop.ui.models.table``;
- ``options``: ``SortOptions``, the dialog's form (photos, destination, copy or move, the rule, the threshold);
- ``preview``: ``PlanSummary`` (where they go, the notes) and ``PlanTable`` (every planned photo);
- ``dialog``: ``SortDialog``, those parts laid out to fit the screen, a live preview, and the sort run in its worker;
- ``history``: ``SortHistoryDialog``, every sort, to undo or resume;
- ``banner``: ``InterruptedBanner``, the status bar's note that a sort did not finish;
- ``controller``: ``SortController``, the Sort menu, and undo and resume run in a worker.

The sorting itself (plans, the journal, crash safety) is ``desktop.core.sorting``; nothing here touches a file.
"""

from desktop.ui.sorting.banner import InterruptedBanner
from desktop.ui.sorting.controller import SortController
from desktop.ui.sorting.dialog import SortDialog
from desktop.ui.sorting.history import SortHistoryDialog
from desktop.ui.sorting.models import ClassCountsModel, SortHistoryModel, SortPreviewModel

__all__ = [
    "ClassCountsModel",
    "InterruptedBanner",
    "SortController",
    "SortDialog",
    "SortHistoryDialog",
    "SortHistoryModel",
    "SortPreviewModel",
]
