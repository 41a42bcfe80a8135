"""Model ▸ Review Likely Label Mistakes: the labelled photos whose label is most likely wrong, most suspicious
first, in the grid with their bar charts; K keeps a label, a class key changes it, both move on."""

from __future__ import annotations

from desktop.core.browse import ImageFilter, Show
from desktop.ui.finder import FinderController


class LabelReviewController(FinderController):
    busy_text = "Looking for labels that are likely wrong…"
    failed_text = "Could not check the labels"

    def search(self, project, emit, cancel) -> list:
        from desktop.core.label_issues import find_label_issues  # torch: in the worker thread

        return find_label_issues(project, on_progress=emit, cancel=cancel)

    def present(self, issues: list) -> tuple[str, ImageFilter | None]:
        if not issues:
            return "No label looks wrong.", None
        return (f"{len(issues)} labels look doubtful, most suspicious first: K keeps a label, a class key changes it.",
                ImageFilter(Show.IDS, image_ids=tuple(i.image_id for i in issues), review=True,
                            title=f"Review {len(issues)} doubtful labels"))
