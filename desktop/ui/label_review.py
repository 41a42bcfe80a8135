"""Model ▸ Review Likely Label Mistakes: the labelled photos whose label is most likely wrong, most suspicious
first, in the grid with their bar charts; K keeps a label, a class key changes it, both move on.

It leads with the few the model is sure about (out-of-fold, at least 90 % sure the label is wrong); the less
certain rest, often a third of a clean set, comes only when asked ("Show N more", ``more_changed``)."""

from __future__ import annotations

from PySide6.QtCore import Signal

from desktop.core.browse import ImageFilter, Show
from desktop.ui.finder import FinderController
from desktop.wording import plural


class LabelReviewController(FinderController):
    busy_text = "Looking for labels that are likely wrong…"
    failed_text = "Could not check the labels"
    more_changed = Signal(str)  # the text of a button showing the less certain ones too; "" when there are none

    def __init__(self, context, parent=None) -> None:
        super().__init__(context, parent)
        self.issues: list = []  # desktop.core.label_issues.LabelIssue, most suspicious first

    def search(self, project, emit, cancel) -> list:
        from desktop.core.label_issues import find_label_issues  # torch: in the worker thread

        return find_label_issues(project, on_progress=emit, cancel=cancel)

    def present(self, issues: list) -> tuple[str, ImageFilter | None]:
        self.issues = list(issues)
        likely = [issue for issue in issues if issue.likely]
        rest = len(issues) - len(likely)
        if not issues:
            return "No label looks wrong.", None
        if not likely:
            return (f"No label looks clearly wrong; {plural(rest, 'label')} less typical of their class, most "
                    "suspicious first: K keeps a label, a class key changes it.", self._review(issues, doubtful=True))
        more = f" {plural(rest, 'less certain one')}: Show more." if rest else ""
        return (f"{plural(len(likely), 'label')} look{'s' * (len(likely) == 1)} wrong (the model, not having seen "
                f"{'it' if len(likely) == 1 else 'them'}, is at least 90 % sure): K keeps a label, a class key "
                f"changes it.{more}", self._review(likely, doubtful=False))

    def _on_found(self, results: list) -> None:
        super()._on_found(results)
        rest = sum(not issue.likely for issue in self.issues) if any(i.likely for i in self.issues) else 0
        self.more_changed.emit(f"Show {rest:,} more" if rest else "")  # after the view: a new view hides it

    def show_more(self) -> None:
        """Every doubtful label, the likely mistakes first."""
        if self.issues:
            self.filter_requested.emit(self._review(self.issues, doubtful=True))
            self.more_changed.emit("")

    @staticmethod
    def _review(issues: list, doubtful: bool) -> ImageFilter:
        what = "doubtful label" if doubtful else "likely label mistake"
        return ImageFilter(Show.IDS, image_ids=tuple(i.image_id for i in issues), review=True,
                           title=plural(len(issues), what))  # short: the bar holds two buttons at 1024 px
