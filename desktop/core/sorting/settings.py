"""A sort's record of how it was made (``Sort.settings``, JSON in the project database): one typed, frozen
``SortSettings``, read back leniently (a sort journalled by an older version, or a value of the wrong type, reads
as the default) and changed only by the journal, as a new record."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class PlanCounts:
    """What the plan left out or decided by rule, for the result and the history (``settings["plan"]``)."""

    from_labels: int = 0
    below_threshold: int = 0
    unpredicted: int = 0
    already_sorted: int = 0
    skipped: int = 0
    expected_mistakes: float | None = None  # None: journalled before it was recorded


@dataclass(frozen=True)
class SortSettings:
    follow_labels: bool = True
    # Folders that existed before this sort: its undo never removes them, even when empty.
    existing_dirs: tuple[str, ...] = ()
    created_dirs: tuple[str, ...] = ()  # the destination (and parents) the sort made, deepest first
    # In our temp files' names: two projects' sort #1 can write into one folder at once (None: older sorts).
    token: str | None = None
    plan: PlanCounts = PlanCounts()
    rule: Mapping[str, Any] = field(default_factory=dict)  # SortPlan.rule: how predicted photos were chosen
    restored_to: Mapping[str, str] = field(default_factory=dict)  # op id → where undo put it (its place was taken)
    created_folder_id: int | None = None  # the project folder the sort added for its destination
    # Duplicates moved aside (``sorting.aside``): the moved photos' rows stay where they were, marked missing (their
    # labels kept for undo), and a re-import skips the destination.
    set_aside: bool = False

    def as_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "follow_labels": self.follow_labels, "existing_dirs": list(self.existing_dirs),
            "created_dirs": list(self.created_dirs), "token": self.token,
            "plan": dataclasses.asdict(self.plan), "rule": dict(self.rule),
        }
        if self.restored_to:
            data["restored_to"] = dict(self.restored_to)
        if self.created_folder_id is not None:
            data["created_folder_id"] = self.created_folder_id
        if self.set_aside:
            data["set_aside"] = True
        return data

    @classmethod
    def from_dict(cls, raw: Any) -> SortSettings:
        raw = raw if isinstance(raw, Mapping) else {}
        plan = raw.get("plan") if isinstance(raw.get("plan"), Mapping) else {}
        counts = {name: _typed(plan.get(name), int, 0) for name in
                  ("from_labels", "below_threshold", "unpredicted", "already_sorted", "skipped")}
        mistakes = plan.get("expected_mistakes")
        return cls(
            follow_labels=_typed(raw.get("follow_labels"), bool, True),
            existing_dirs=_strings(raw.get("existing_dirs")),
            created_dirs=_strings(raw.get("created_dirs")),
            token=_typed(raw.get("token"), str, None),
            plan=PlanCounts(**counts, expected_mistakes=float(mistakes) if _is_number(mistakes) else None),
            rule=dict(raw["rule"]) if isinstance(raw.get("rule"), Mapping) else {},
            restored_to={str(k): v for k, v in raw["restored_to"].items() if isinstance(v, str)}
            if isinstance(raw.get("restored_to"), Mapping) else {},
            created_folder_id=_typed(raw.get("created_folder_id"), int, None),
            set_aside=_typed(raw.get("set_aside"), bool, False),
        )

    def restoring(self, op_id: int, place: str) -> SortSettings:
        """This record with operation ``op_id`` put back at ``place`` (beside its old place, which is taken)."""
        return dataclasses.replace(self, restored_to={**self.restored_to, str(op_id): place})


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _typed(value: Any, kind: type, default: Any) -> Any:
    if kind is int:
        return value if isinstance(value, int) and not isinstance(value, bool) else default
    return value if isinstance(value, kind) else default


def _strings(value: Any) -> tuple[str, ...]:
    return tuple(item for item in value if isinstance(item, str)) if isinstance(value, list | tuple) else ()
