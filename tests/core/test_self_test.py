"""`pigeonhole --self-test` works from source with no display: import, train, predict, JSON, exit 0."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_self_test_passes_without_a_display(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM")}
    env["PIGEONHOLE_DATA_DIR"] = str(tmp_path / "data")
    env["TMPDIR"] = str(tmp_path)
    done = subprocess.run([sys.executable, "-m", "desktop", "--self-test"], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["ok"] is True and all(result["checks"].values())
    assert result["images"] == 16 and result["predicted"] == 16 and result["correct"] >= 13
    assert result["backbone"] == "efficientnet_lite0"
    assert "self-test: training" in done.stderr
    assert not list(tmp_path.glob("pigeonhole-self-test-*"))  # the temporary project is gone
    assert not (tmp_path / "data").exists()  # nothing written to the user's data folder
