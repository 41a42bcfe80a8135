"""scripts/run and scripts/test: valid bash, and the environment they pick and install into (scripts/lib/python-env.sh),
driven with a stand-in python3 that records what it is asked to do."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LIB = ROOT / "scripts" / "lib" / "python-env.sh"

# A python3 that answers the environment's questions from FAKE_* variables and logs every call. `-m venv DIR`
# makes DIR/bin/python (itself) unless FAKE_VENV=no-ensurepip, which fails as Debian does without python3-venv.
FAKE_PYTHON = """#!/bin/sh
echo "$0 $*" >> "$FAKE_LOG"
case "$1" in
    -c) case "$2" in *metadata*) echo "$FAKE_TORCH" ;; *) echo "$FAKE_FACTS" ;; esac ;;
    -m) if [ "$2" = venv ]; then
            for dir; do :; done
            mkdir -p "$dir/bin"
            if [ "$FAKE_VENV" = no-ensurepip ]; then
                echo "The virtual environment was not created successfully because ensurepip is not available." >&2
                exit 1
            fi
            cp "$0" "$dir/bin/python"; touch "$dir/pyvenv.cfg"
        fi ;;
esac
"""


@pytest.mark.parametrize("script", ["scripts/run", "scripts/test", "scripts/lib/python-env.sh"])
def test_scripts_are_valid_bash(script: str) -> None:
    result = subprocess.run(["bash", "-n", str(ROOT / script)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


@pytest.fixture
def fake(tmp_path: Path):
    """Runs ``code`` in bash after sourcing the library, with the stand-in python3 first on PATH."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    python = bin_dir / "python3"
    python.write_text(FAKE_PYTHON)
    python.chmod(0o755)
    log = tmp_path / "calls.log"

    def run(code: str, facts: str = "3.11 True", **env: str) -> subprocess.CompletedProcess:
        environ = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHON", "PIGEONHOLE_TORCH")}
        environ.update({"PATH": f"{bin_dir}:{environ['PATH']}", "FAKE_LOG": str(log), "FAKE_FACTS": facts,
                        "FAKE_TORCH": "", "FAKE_VENV": "ok", "PIGEONHOLE_VENV": str(tmp_path / "venv"), **env})
        script = f"set -euo pipefail; SETUP_NAME=setup; . {LIB}; {code}"
        return subprocess.run(["bash", "-c", script], capture_output=True, text=True, env=environ, cwd=ROOT)

    run.log = log
    run.venv = tmp_path / "venv"
    run.calls = lambda: log.read_text().splitlines() if log.exists() else []
    return run


def plan(fake, **kwargs) -> dict[str, str]:
    result = fake(f"cd {ROOT}; choose_env; echo \"kind=$ENV_KIND site=$ENV_SITE env=$ENV_DIR\"", **kwargs)
    assert result.returncode == 0, result.stderr
    return dict(word.split("=", 1) for word in result.stdout.split())


def test_an_externally_managed_python_gets_an_isolated_project_venv(fake) -> None:
    """Debian 12's python3 (PEP 668) refuses a plain pip install; its apt packages must not leak into .venv/."""
    assert plan(fake, facts="3.11 True") == {"kind": "project", "site": "isolated", "env": str(fake.venv)}
    result = fake('pigeonhole_env; echo "PY=$PY"', facts="3.11 True")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"PY={fake.venv}/bin/python"
    calls = fake.calls()
    venv_calls = [call for call in calls if " -m venv " in call]
    assert len(venv_calls) == 1 and "--system-site-packages" not in venv_calls[0]
    assert calls[-1].startswith(f"{fake.venv}/bin/python -m pip install") and calls[-1].endswith(" -e .")
    assert " -q" not in calls[-1]  # pip shows its progress


def test_a_python_of_ones_own_shares_its_packages_with_the_venv(fake) -> None:
    """pyenv: no marker; .venv/ sees the packages already installed there (torch is not downloaded again)."""
    assert plan(fake, facts="3.12 False")["site"] == "shared"
    assert fake("pigeonhole_env", facts="3.12 False").returncode == 0
    assert any(" -m venv --system-site-packages " in call for call in fake.calls())


def test_an_active_virtual_environment_is_used_as_it_is(fake, tmp_path: Path) -> None:
    mine = tmp_path / "my-env"
    (mine / "bin").mkdir(parents=True)
    (mine / "bin" / "python").write_text(FAKE_PYTHON)
    (mine / "bin" / "python").chmod(0o755)
    assert plan(fake, VIRTUAL_ENV=str(mine)) == {"kind": "active", "site": "as-is", "env": str(mine)}
    result = fake("pigeonhole_env test", VIRTUAL_ENV=str(mine))
    assert result.returncode == 0, result.stderr
    assert not fake.venv.exists()
    assert fake.calls()[-1].startswith(f"{mine}/bin/python -m pip install") and fake.calls()[-1].endswith(".[test]")


def test_reruns_skip_pip_until_more_is_asked_for(fake) -> None:
    assert fake("pigeonhole_env").returncode == 0
    installs = lambda: [call for call in fake.calls() if " -m pip install " in call]  # noqa: E731
    assert len(installs()) == 1
    assert fake("pigeonhole_env").returncode == 0
    assert len(installs()) == 1, "nothing changed: no pip"
    assert fake("pigeonhole_env test").returncode == 0
    assert len(installs()) == 2 and installs()[-1].endswith(".[test]")
    assert fake("pigeonhole_env").returncode == 0 and fake("pigeonhole_env test").returncode == 0
    assert len(installs()) == 2, "the test extras include everything the app needs"
    assert fake("pigeonhole_env", PIGEONHOLE_TORCH="cpu", FAKE_TORCH="2.9.1+cpu").returncode == 0
    assert len(installs()) == 3, "another torch asked for: pip again"


def test_an_old_python_is_refused_in_one_sentence(fake) -> None:
    result = fake("pigeonhole_env", facts="3.9 True")
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        "setup: Pigeonhole needs Python 3.11 or newer but python3 is 3.9: install a newer one (Debian 12 and Ubuntu "
        "24.04 have 3.11 and 3.12) and run it with PYTHON=python3.11 bash"]
    assert not fake.venv.exists()


def test_an_active_virtual_environment_with_an_old_python_is_refused(fake, tmp_path: Path) -> None:
    old = tmp_path / "old-env"
    (old / "bin").mkdir(parents=True)
    (old / "bin" / "python").write_text(FAKE_PYTHON)
    (old / "bin" / "python").chmod(0o755)
    result = fake("pigeonhole_env", facts="3.10 False", VIRTUAL_ENV=str(old))
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        "setup: Pigeonhole needs Python 3.11 or newer but the active virtual environment has 3.10: deactivate it, "
        "or activate one made with Python 3.11+"]


def test_without_the_venv_module_and_without_root_it_says_what_to_install(fake, tmp_path: Path) -> None:
    """Debian without python3-venv: the half-made .venv/ is removed and the apt command named."""
    not_root = tmp_path / "bin"
    (not_root / "id").write_text("#!/bin/sh\necho 1000\n")
    (not_root / "sudo").write_text("#!/bin/sh\nexit 1\n")  # sudo that wants a password
    for tool in ("id", "sudo"):
        (not_root / tool).chmod(0o755)
    result = fake("pigeonhole_env", FAKE_VENV="no-ensurepip")
    assert result.returncode == 1
    assert result.stderr.strip().endswith(
        "Python's venv module is not installed and installing it needs root: sudo apt-get install python3.11-venv, "
        "then run bash again")
    assert not fake.venv.exists()


@pytest.mark.parametrize(("installed", "expected"), [
    ("", "--index-url https://download.pytorch.org/whl/cpu torch torchvision"),
    ("2.14.1", "--index-url https://download.pytorch.org/whl/cpu --force-reinstall --no-deps torch torchvision"),
    ("2.13.0+cpu", None),
])
def test_pigeonhole_torch_cpu_installs_torch_from_pytorchs_cpu_index_first(fake, installed, expected) -> None:
    assert fake("pigeonhole_env", PIGEONHOLE_TORCH="cpu", FAKE_TORCH=installed).returncode == 0
    installs = [call for call in fake.calls() if " -m pip install " in call]
    assert installs[-1].endswith(" -e .")
    if expected is None:
        assert len(installs) == 1
    else:
        assert len(installs) == 2 and installs[0].endswith(expected)


def test_an_unknown_torch_choice_is_one_sentence(fake) -> None:
    result = fake("pigeonhole_env", PIGEONHOLE_TORCH="cuda")
    assert result.returncode == 1
    assert result.stderr.strip() == ("setup: PIGEONHOLE_TORCH is 'cuda'; it can be cpu (torch's CPU-only wheels) "
                                     "or unset (PyPI's, with CUDA on Linux).")
