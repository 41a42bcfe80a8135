"""The words the sort views share: plurals, the mode's verbs, and confidences as percentages."""

from __future__ import annotations

from desktop.core.sorting import COPY
from desktop.wording import plural

__all__ = ["ing", "percent", "plural", "verb"]


def verb(mode: str, past: bool = False) -> str:
    if past:
        return "copied" if mode == COPY else "moved"
    return "Copy" if mode == COPY else "Move"


def ing(mode: str) -> str:
    return "Copying" if mode == COPY else "Moving"


def percent(value: float | None) -> str:
    return "—" if value is None else f"{value:.0%}"
