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
