# The Python environment scripts/run and scripts/test work in; sourced by both (bash).
#
#   pigeonhole_env [test]     choose the environment, create it if needed, install this checkout into it (with the
#                             test extras if asked) unless it is already installed from this pyproject.toml;
#                             sets PY (its python) and ENV_DIR
#   choose_env                only the choice: sets BASE_PY, ENV_DIR, ENV_KIND (active|project) and ENV_SITE
#                             (isolated|shared); scripts/lib/python-env.sh --plan prints them
#   as_root CMD...            CMD as root: directly, or through sudo when sudo needs no password; else fails
#   apt_install PKG...        apt-get install as root (an apt-get update first if the lists are stale)
#
# The choice: an active virtual environment ($VIRTUAL_ENV) is used as it is. Otherwise the project's own .venv/
# (gitignored), made from $PYTHON (default python3). A Python that its distribution manages (PEP 668, the
# EXTERNALLY-MANAGED marker: Debian 12, Ubuntu 23.04 and later) refuses `pip install` outside a virtual
# environment, and its apt-installed python3-* packages must not leak in, so .venv/ is isolated from it. A
# Python of the user's own (pyenv, built from source) gets a .venv/ that sees its packages: torch and Qt already
# installed there are not downloaded again.
# Environment: PYTHON (the Python to make .venv/ with), PIGEONHOLE_VENV (another folder instead of .venv/),
# PIGEONHOLE_TORCH (cpu: torch's CPU-only wheels from PyTorch's own index, see README.md).

say() { echo "${SETUP_NAME:-setup}: $*" >&2; }
die() { say "$*"; exit 1; }

TORCH_CPU_INDEX=https://download.pytorch.org/whl/cpu

as_root() {
    if [ "$(id -u)" = 0 ]; then
        "$@"
    elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
        sudo -n "$@"
    else
        return 1
    fi
}

can_be_root() { as_root true 2>/dev/null; }

apt_install() {
    command -v apt-get >/dev/null || return 1
    export DEBIAN_FRONTEND=noninteractive
    as_root apt-get install -y -q --no-install-recommends "$@" \
        || { as_root apt-get update -q && as_root apt-get install -y -q --no-install-recommends "$@"; }
}

# "3.11 True": the version and whether the distribution manages this Python (PEP 668), in one call.
python_facts() {
    "$1" -c 'import os, sys, sysconfig
print("%d.%d" % sys.version_info[:2], os.path.isfile(os.path.join(sysconfig.get_path("stdlib"), "EXTERNALLY-MANAGED")))'
}

# Fails with one sentence unless $1 is Python 3.11 or newer; sets PY_VERSION and PY_MANAGED.
check_python() {
    local python=$1 facts
    command -v "$python" >/dev/null \
        || die "Pigeonhole needs Python 3.11 or newer and there is no $python here: sudo apt-get install python3 python3-venv"
    facts=$(python_facts "$python") || die "$python does not run; Pigeonhole needs Python 3.11 or newer."
    read -r PY_VERSION PY_MANAGED <<<"$facts"
    local major=${PY_VERSION%%.*} minor=${PY_VERSION#*.}
    if [ "$major" -lt 3 ] || { [ "$major" = 3 ] && [ "$minor" -lt 11 ]; }; then
        [ "${ENV_KIND:-}" = active ] \
            && die "Pigeonhole needs Python 3.11 or newer but the active virtual environment has $PY_VERSION: deactivate it, or activate one made with Python 3.11+"
        die "Pigeonhole needs Python 3.11 or newer but $python is $PY_VERSION: install a newer one (Debian 12 and Ubuntu 24.04 have 3.11 and 3.12) and run it with PYTHON=python3.11 $0"
    fi
}

choose_env() {
    if [ -n "${VIRTUAL_ENV:-}" ] && [ -x "$VIRTUAL_ENV/bin/python" ]; then
        BASE_PY=$VIRTUAL_ENV/bin/python ENV_DIR=$VIRTUAL_ENV ENV_KIND=active ENV_SITE=as-is
        check_python "$BASE_PY"
        return
    fi
    BASE_PY=${PYTHON:-python3} ENV_DIR=${PIGEONHOLE_VENV:-$PWD/.venv} ENV_KIND=project
    check_python "$BASE_PY"
    if [ "$PY_MANAGED" = True ]; then ENV_SITE=isolated; else ENV_SITE=shared; fi
}

# Create .venv/ with BASE_PY; Debian and Ubuntu ship venv's pip bootstrap separately (python3.X-venv).
make_project_env() {
    local site_flag=() log
    [ "$ENV_SITE" = shared ] && site_flag=(--system-site-packages)
    say "creating $ENV_DIR with $BASE_PY ($PY_VERSION, ${ENV_SITE} site-packages)"
    log=$(mktemp)
    if ! "$BASE_PY" -m venv "${site_flag[@]}" "$ENV_DIR" >"$log" 2>&1; then
        rm -rf "$ENV_DIR"  # a half-made one (no pip) would be taken for a good one next time
        if grep -q ensurepip "$log"; then
            local package=python$PY_VERSION-venv
            if can_be_root && command -v apt-get >/dev/null; then
                say "installing $package (Python's venv module; Debian and Ubuntu package it separately)"
                apt_install "$package" >&2 || { rm -f "$log"; die "could not install $package: sudo apt-get install $package"; }
                "$BASE_PY" -m venv "${site_flag[@]}" "$ENV_DIR" >"$log" 2>&1 || { cat "$log" >&2; rm -rf "$ENV_DIR" "$log"; exit 1; }
            else
                rm -f "$log"
                die "Python's venv module is not installed and installing it needs root: sudo apt-get install $package, then run $0 again"
            fi
        else
            cat "$log" >&2; rm -f "$log"
            die "could not create the virtual environment $ENV_DIR"
        fi
    fi
    rm -f "$log"
}

pigeonhole_env() {
    local extras=${1:-} torch=${PIGEONHOLE_TORCH:-default}
    case "$torch" in
        default|cpu) ;;
        *) die "PIGEONHOLE_TORCH is '$torch'; it can be cpu (torch's CPU-only wheels) or unset (PyPI's, with CUDA on Linux)." ;;
    esac
    choose_env
    if [ "$ENV_KIND" = project ]; then
        # A .venv/ whose Python is gone or too old (the system Python was upgraded) is made anew.
        if [ -f "$ENV_DIR/pyvenv.cfg" ] && ! (check_python "$ENV_DIR/bin/python") 2>/dev/null; then
            say "$ENV_DIR no longer works; making it anew"
            rm -rf "$ENV_DIR"
        fi
        [ -x "$ENV_DIR/bin/python" ] || make_project_env
    fi
    PY=$ENV_DIR/bin/python

    # Re-running is fast: pip runs only when pyproject.toml (or what is asked for) changed since the last install.
    local stamp=$ENV_DIR/.pigeonhole-installed key digest
    digest=$( (sha256sum pyproject.toml 2>/dev/null || shasum -a 256 pyproject.toml) | cut -d' ' -f1)
    key="$digest torch=$torch checkout=$PWD"
    if [ -f "$stamp" ] && grep -qxF "$key ${extras:-run}" "$stamp"; then
        return 0
    fi
    if [ "$torch" = cpu ]; then
        local installed
        installed=$("$PY" -c 'import importlib.metadata as m; print(m.version("torch"))' 2>/dev/null || true)
        case "$installed" in
            *+cpu) ;;
            "") say "installing torch and torchvision's CPU-only wheels from $TORCH_CPU_INDEX"
                "$PY" -m pip install --disable-pip-version-check --index-url "$TORCH_CPU_INDEX" torch torchvision >&2 ;;
            *)  say "replacing torch $installed with its CPU-only build; the CUDA libraries it brought stay in $ENV_DIR (remove it and run again to reclaim them)"
                "$PY" -m pip install --disable-pip-version-check --index-url "$TORCH_CPU_INDEX" --force-reinstall --no-deps torch torchvision >&2 ;;
        esac
    fi
    local why="pyproject.toml or the choice of torch or extras changed since the last install"
    [ -f "$stamp" ] || why="the first time downloads about 3.2 GB, mostly torch with CUDA: see README.md"
    say "installing Pigeonhole${extras:+ with the $extras extras} into $ENV_DIR ($why)"
    "$PY" -m pip install --disable-pip-version-check -e ".${extras:+[$extras]}" >&2
    if [ "$extras" = test ]; then printf '%s run\n%s test\n' "$key" "$key"; else printf '%s run\n' "$key"; fi >"$stamp"
}

# `bash scripts/lib/python-env.sh --plan`: print the choice, change nothing (tests/test_scripts.py).
if [ "${BASH_SOURCE[0]}" = "$0" ] && [ "${1:-}" = --plan ]; then
    set -euo pipefail
    cd "$(dirname "$0")/../.."
    choose_env
    echo "python=$BASE_PY version=$PY_VERSION env=$ENV_DIR kind=$ENV_KIND site=$ENV_SITE"
fi
