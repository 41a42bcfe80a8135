"""Which files this project's exports wrote, so that ``--force`` replaces only those.

``--force`` exists to refresh an earlier export under the same name. Without a record it would replace whatever
has that name: a photo of another collection, a document (a JPEG became a 14 MB ONNX file). The record,
``exports.json`` in the project folder, maps each exported file's absolute path to its content hash; a file is
an earlier export only while its content is still what was written (a file edited since is the user's).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from desktop.io.files import FileReadError, read_regular_file
from desktop.io.safe_files import atomic_write, hash_file

RECORD_NAME = "exports.json"
MAX_BYTES = 4 << 20
MOST_REMEMBERED = 1000  # the newest exports; an older one is then treated as the user's file


class ExportRecord:
    def __init__(self, project_path: Path) -> None:
        self.path = project_path / RECORD_NAME

    def _load(self) -> dict[str, str]:
        try:
            data = json.loads(read_regular_file(self.path, MAX_BYTES))
        except (FileReadError, ValueError):  # none yet, or damaged: no export is vouched for
            return {}
        files = data.get("files") if isinstance(data, dict) else None
        if not isinstance(files, dict):
            return {}
        return {path: digest for path, digest in files.items() if isinstance(path, str) and isinstance(digest, str)}

    def wrote(self, path: Path) -> bool:
        """``path`` holds exactly what one of this project's exports wrote there."""
        recorded = self._load().get(str(path))
        if recorded is None:
            return False
        try:
            return hash_file(path) == recorded
        except OSError:
            return False

    def remember(self, *paths: Path) -> None:
        """Record the files an export just wrote. Best effort: a record that cannot be written only means a
        later ``--force`` will not replace these files."""
        files = self._load()
        for path in paths:
            try:
                files.pop(str(path), None)
                files[str(path)] = hash_file(path)
            except OSError:
                continue
        newest = dict(list(files.items())[-MOST_REMEMBERED:])
        # ASCII: a path that is not UTF-8 (lone surrogates) is written as \udcXX and read back the same.
        payload = json.dumps({"version": 1, "files": newest}, indent=1).encode("ascii")
        try:
            atomic_write(self.path, lambda handle: handle.write(payload))
            os.chmod(self.path, 0o644)
        except OSError:
            pass
