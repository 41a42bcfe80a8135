"""Which build this is, asked without importing torch."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from desktop.ml import builds

WITHOUT_TORCH = os.environ.get("PIGEONHOLE_WITHOUT_TORCH") == "1"


def test_the_build_follows_whether_torch_can_be_imported():
    assert builds.torch_installed() is (not WITHOUT_TORCH)
    assert builds.build_name() == ("CPU" if WITHOUT_TORCH else "full")


def test_asking_for_the_full_build_in_the_cpu_build_is_one_sentence(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setitem(sys.modules, "torch", None)
    assert not builds.torch_installed()
    with pytest.raises(builds.FullBuildRequired) as raised:
        builds.require_torch("Fine-tuning")
    message = str(raised.value)
    assert message.startswith("Fine-tuning needs the full build") and "pigeonhole-cpu" in message
    assert "\n" not in message


def test_asking_does_not_import_torch():
    code = "import sys; from desktop.ml import builds; builds.torch_installed(); print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


def test_version_names_the_build(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]):
    from desktop.cli import build_parser

    monkeypatch.setitem(sys.modules, "torch", None)
    with pytest.raises(SystemExit):
        build_parser().parse_args(["--version"])
    assert capsys.readouterr().out.strip().endswith("(CPU build)")
