"""The settings schema: values round-trip through an ini file, a missing or wrong-typed value reads as the default."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import QByteArray, QSettings

from desktop.core.sorting import DEFAULT_PRECISION, DEFAULT_THRESHOLD, MOVE
from desktop.ui import settings as schema


@pytest.fixture
def ini(tmp_path: Path) -> QSettings:
    return QSettings(str(tmp_path / "isolated.ini"), QSettings.Format.IniFormat)


def reopened(ini: QSettings) -> QSettings:
    """The same file read afresh, so values come back as the ini's text, not as they were set."""
    ini.sync()
    return QSettings(ini.fileName(), QSettings.Format.IniFormat)


def test_every_key_is_declared_once():
    keys = [setting.key for setting in schema.ALL_SETTINGS]
    assert len(keys) == len(set(keys))


def test_nothing_stored_reads_as_the_defaults(ini):
    assert [setting.read(ini) for setting in schema.ALL_SETTINGS] == [
        None, None, None, None, None, "", "copy", DEFAULT_THRESHOLD, DEFAULT_PRECISION, True]


@pytest.mark.parametrize(("setting", "value"), [
    (schema.LAST_PROJECT, Path("/photos/Mine.pigeonhole")),
    (schema.WINDOW_GEOMETRY, QByteArray(b"\x01\x02geometry")),
    (schema.WINDOW_STATE, QByteArray(b"\x00\xffdocks")),
    (schema.THUMBNAIL_SIZE, 212),
    (schema.SORT_DESTINATION, "/photos/sorted"),
    (schema.SORT_MODE, MOVE),
    (schema.SORT_THRESHOLD, 0.35),
    (schema.SORT_PRECISION, 0.99),
    (schema.SORT_PRECISION, None),  # the confidence-threshold rule
    (schema.SORT_FOLLOW_LABELS, False),
])
def test_a_written_value_reads_back_with_its_type(ini, setting, value):
    setting.write(ini, value)
    read = setting.read(reopened(ini))
    assert read == value and type(read) is type(value)


@pytest.mark.parametrize(("setting", "stored"), [
    (schema.LAST_PROJECT, ""),
    (schema.WINDOW_SPLITTER, "not a saved state"),
    (schema.THUMBNAIL_SIZE, "big"),
    (schema.THUMBNAIL_SIZE, "-5"),
    (schema.SORT_MODE, "shred"),
    (schema.SORT_THRESHOLD, "high"),
    (schema.SORT_THRESHOLD, "7"),
    (schema.SORT_THRESHOLD, "nan"),
    (schema.SORT_PRECISION, "most of the time"),
    (schema.SORT_FOLLOW_LABELS, "perhaps"),
    (schema.SORT_FOLLOW_LABELS, ["a", "list"]),
])
def test_a_wrong_typed_value_reads_as_the_default(ini, setting, stored):
    ini.setValue(setting.key, stored)
    assert setting.read(reopened(ini)) == setting.default
