"""Where Pigeonhole keeps things on this computer (overridable for tests and portable installs)."""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs

from desktop import APP_NAME


def data_dir() -> Path:
    override = os.environ.get("PIGEONHOLE_DATA_DIR")
    return Path(override) if override else Path(platformdirs.user_data_dir(APP_NAME, appauthor=False))


def default_project_path() -> Path:
    return data_dir() / "My Photos.pigeonhole"


def cache_dir() -> Path:
    """Files Pigeonhole can always rebuild (exported ONNX networks), shared by every project on this computer.

    Inside the data folder when that is overridden (portable installs, tests), so one override keeps it all
    in one place."""
    override = os.environ.get("PIGEONHOLE_CACHE_DIR")
    if override:
        return Path(override)
    if os.environ.get("PIGEONHOLE_DATA_DIR"):
        return data_dir() / "cache"
    return Path(platformdirs.user_cache_dir(APP_NAME, appauthor=False))
