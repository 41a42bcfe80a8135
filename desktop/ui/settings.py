"""Every QSettings key the app keeps, declared once: its key, its type and its default.

Code reads and writes settings only through these ``Setting`` objects (``LAST_PROJECT.read(settings)``), never by a
string key. A stored value of the wrong type (a settings file edited by hand, or written by an older version)
reads as the default, so no widget ever sees it.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, TypeVar

from PySide6.QtCore import QByteArray, QSettings

from desktop.core.sorting import COPY, DEFAULT_PRECISION, DEFAULT_THRESHOLD, MOVE

T = TypeVar("T")

NO_PRECISION = "none"  # how the sort dialog's "confidence threshold" rule (no precision) is stored


@dataclass(frozen=True)
class Setting(Generic[T]):
    """One key: ``parse`` turns a stored value into a ``T`` (raising ValueError or TypeError when it is not one),
    ``dump`` turns a ``T`` into what QSettings stores."""

    key: str
    default: T
    parse: Callable[[Any], T]
    dump: Callable[[T], Any] = lambda value: value

    def read(self, settings: QSettings) -> T:
        stored = settings.value(self.key)
        if stored is None:
            return self.default
        try:
            return self.parse(stored)
        except (TypeError, ValueError):
            return self.default

    def write(self, settings: QSettings, value: T) -> None:
        settings.setValue(self.key, self.dump(value))


# -- parsers: an ini file stores every value as text, the native formats keep its type ---------------------------

def _text(value: Any) -> str:
    if not isinstance(value, str):
        raise TypeError(f"not text: {value!r}")
    return value


def _flag(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    words = {"true": True, "1": True, "false": False, "0": False}
    if isinstance(value, str) and value.lower() in words:
        return words[value.lower()]
    raise ValueError(f"not a yes or no: {value!r}")


def _number(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise TypeError(f"not a number: {value!r}")
    number = float(value)
    if not math.isfinite(number):
        raise ValueError(f"not a finite number: {value!r}")
    return number


def _count(value: Any) -> int:
    number = _number(value)
    if number != int(number) or number < 0:
        raise ValueError(f"not a count: {value!r}")
    return int(number)


def _fraction(value: Any) -> float:
    number = _number(value)
    if not 0.0 <= number <= 1.0:
        raise ValueError(f"not between 0 and 1: {value!r}")
    return number


def _precision(value: Any) -> float | None:
    return None if value in ("", NO_PRECISION) else _fraction(value)


def _dump_precision(value: float | None) -> str | float:
    return NO_PRECISION if value is None else value


def _sort_mode(value: Any) -> str:
    if value not in (COPY, MOVE):
        raise ValueError(f"not a sort mode: {value!r}")
    return value


def _bytes(value: Any) -> QByteArray:
    if not isinstance(value, QByteArray | bytes):
        raise TypeError(f"not saved window state: {value!r}")
    return QByteArray(value)


def _path(value: Any) -> Path:
    if not _text(value):
        raise ValueError("no path")
    return Path(value)


# -- the keys ------------------------------------------------------------------------------------------------------

LAST_PROJECT: Setting[Path | None] = Setting("last_project", None, _path, str)
WINDOW_GEOMETRY: Setting[QByteArray | None] = Setting("window/geometry", None, _bytes)
WINDOW_STATE: Setting[QByteArray | None] = Setting("window/state", None, _bytes)  # toolbars and docks (the map)
WINDOW_SPLITTER: Setting[QByteArray | None] = Setting("window/splitter", None, _bytes)
THUMBNAIL_SIZE: Setting[int | None] = Setting("window/tile", None, _count)

SORT_DESTINATION: Setting[str] = Setting("sort/destination", "", _text)
SORT_MODE: Setting[str] = Setting("sort/mode", COPY, _sort_mode)
SORT_THRESHOLD: Setting[float] = Setting("sort/threshold", DEFAULT_THRESHOLD, _fraction)
SORT_PRECISION: Setting[float | None] = Setting("sort/precision", DEFAULT_PRECISION, _precision, _dump_precision)
SORT_FOLLOW_LABELS: Setting[bool] = Setting("sort/follow_labels", True, _flag)

ALL_SETTINGS: tuple[Setting, ...] = (LAST_PROJECT, WINDOW_GEOMETRY, WINDOW_STATE, WINDOW_SPLITTER, THUMBNAIL_SIZE,
                                     SORT_DESTINATION, SORT_MODE, SORT_THRESHOLD, SORT_PRECISION, SORT_FOLLOW_LABELS)
