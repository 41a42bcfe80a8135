"""Model ▸ Find Near-Duplicates: groups of (nearly) identical photos, shown in the grid for review."""

from __future__ import annotations

from desktop.core.browse import ImageFilter, Show
from desktop.ui.finder import FinderController


class DuplicatesController(FinderController):
    busy_text = "Looking for near-duplicates…"
    failed_text = "Could not look for duplicates"

    def search(self, project, emit, cancel) -> list:
        from desktop.core.duplicates import find_duplicates  # torch: in the worker thread

        return find_duplicates(project, on_progress=emit, cancel=cancel)

    def present(self, groups: list) -> tuple[str, ImageFilter | None]:
        if not groups:
            return "No near-duplicates: every photo is its own picture.", None
        straddling = sum(group.straddles_split for group in groups)
        photos = sum(len(group.image_ids) for group in groups)
        warning = (f" {straddling} of them straddle the train/validation split, which flatters the validation "
                   "accuracy." if straddling else "")
        ids = tuple(image_id for group in groups for image_id in group.image_ids)
        return (f"{len(groups)} groups of near-duplicates ({photos} photos).{warning}",
                ImageFilter(Show.IDS, image_ids=ids, title=f"Near-duplicates: {len(groups)} groups, {photos} photos"))
