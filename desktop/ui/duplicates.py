"""Model ▸ Find Near-Duplicates: groups of (nearly) identical photos, shown in the grid for review, each tile
marked with its group."""

from __future__ import annotations

from PySide6.QtCore import Signal

from desktop.core.browse import ImageFilter, Show
from desktop.ui.finder import FinderController
from desktop.ui.models.images import GroupMark


class DuplicatesController(FinderController):
    busy_text = "Looking for near-duplicates…"
    failed_text = "Could not look for duplicates"
    groups_changed = Signal(object)  # dict: image id -> GroupMark, after the view is shown (it clears them)

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

    def _on_found(self, groups: list) -> None:
        super()._on_found(groups)
        self.groups_changed.emit({image_id: GroupMark(number, len(group.image_ids), False)
                                  for number, group in enumerate(groups, start=1) for image_id in group.image_ids})
