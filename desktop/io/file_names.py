"""File names that are safe everywhere and never collide: one home for sorting's and export's naming rules."""

from __future__ import annotations

import os
import re
import unicodedata

_UNSAFE_IN_NAMES = re.compile(r'[\x00-\x1f/\\:*?"<>|]')  # not allowed on Windows, FAT or exFAT (or a separator)


def name_key(name: str) -> str:
    """What macOS, Windows and FAT drives compare: two names with one key are the same file there
    (case- and composition-insensitive)."""
    return unicodedata.normalize("NFC", name).casefold()


def numbered(name: str, number: int) -> str:
    """``IMG_1.jpg`` as ``IMG_1 (2).jpg``: the free-name pattern of every file manager."""
    stem, suffix = os.path.splitext(name)
    return f"{stem} ({number}){suffix}"


def safe_folder_name(class_name: str) -> str:
    """A folder name safe on every common file system for a class name (names are checked when made; models
    and projects may be older)."""
    name = _UNSAFE_IN_NAMES.sub("_", class_name).strip().rstrip(". ")
    return name if name not in ("", ".", "..") else "_unnamed"
