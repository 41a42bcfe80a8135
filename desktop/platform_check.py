"""Can Qt open a window here? Checked before anything imports Qt, because a missing system library makes Qt
abort the whole process (with a hint that names the wrong library) instead of raising an error.

    python3 -m desktop.platform_check [--platform NAME]

prints the apt packages that would give Qt's platform plug-in its missing libraries (nothing when none are
missing, or when there is no display and no --platform); scripts/run and scripts/test install them where they can.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import re
import subprocess
import sys
from collections.abc import Callable, Mapping
from pathlib import Path

from desktop.errors import PigeonholeError

# The system libraries Qt's platform plug-ins link to, and the Debian/Ubuntu package of each. The .deb's Depends
# (packaging/linux/control.in) names every one of these packages (tests/test_platform_check.py checks), so the
# check here and the installed package agree. Libraries those packages pull in themselves are not listed: when
# one of them is missing it is reported by its file name.
QT_SYSTEM_LIBRARIES: dict[str, str] = {
    "libX11.so.6": "libx11-6",
    "libX11-xcb.so.1": "libx11-xcb1",
    "libxcb.so.1": "libxcb1",
    "libxcb-cursor.so.0": "libxcb-cursor0",
    "libxcb-glx.so.0": "libxcb-glx0",
    "libxcb-icccm.so.4": "libxcb-icccm4",
    "libxcb-image.so.0": "libxcb-image0",
    "libxcb-keysyms.so.1": "libxcb-keysyms1",
    "libxcb-randr.so.0": "libxcb-randr0",
    "libxcb-render.so.0": "libxcb-render0",
    "libxcb-render-util.so.0": "libxcb-render-util0",
    "libxcb-shape.so.0": "libxcb-shape0",
    "libxcb-shm.so.0": "libxcb-shm0",
    "libxcb-sync.so.1": "libxcb-sync1",
    "libxcb-util.so.1": "libxcb-util1",
    "libxcb-xfixes.so.0": "libxcb-xfixes0",
    "libxcb-xkb.so.1": "libxcb-xkb1",
    "libxkbcommon.so.0": "libxkbcommon0",
    "libxkbcommon-x11.so.0": "libxkbcommon-x11-0",
    "libEGL.so.1": "libegl1",
    "libGL.so.1": "libgl1",
    "libfontconfig.so.1": "libfontconfig1",
    "libfreetype.so.6": "libfreetype6",
    # Ubuntu 24.04 and Debian 13 call it libglib2.0-0t64; apt installs that for this name.
    "libglib-2.0.so.0": "libglib2.0-0",
    "libgthread-2.0.so.0": "libglib2.0-0",
    "libdbus-1.so.3": "libdbus-1-3",
}

NO_DISPLAY = (
    "No display found (neither DISPLAY nor WAYLAND_DISPLAY is set): Pigeonhole's window needs a desktop session, "
    "so run it from one, or use the command line: pigeonhole --help."
)


class PlatformUnavailable(PigeonholeError):
    """Qt cannot show a window on this machine as it is: no display, or system libraries missing."""


def qt_platform(environ: Mapping[str, str] | None = None) -> str:
    """The platform plug-in Qt will start with: QT_QPA_PLATFORM's first choice, else what the session offers."""
    environ = os.environ if environ is None else environ
    requested = environ.get("QT_QPA_PLATFORM", "").split(";")[0].split(":")[0].strip()
    if requested:
        return requested
    # Qt prefers its Wayland plug-in in a Wayland session and uses X11 (xcb) everywhere else.
    return "wayland" if environ.get("WAYLAND_DISPLAY") else "xcb"


def plugin_path(platform: str) -> Path | None:
    """PySide6's plug-in file for ``platform`` (found without importing Qt), or None."""
    spec = importlib.util.find_spec("PySide6")
    if spec is None or not spec.submodule_search_locations:
        return None
    for location in spec.submodule_search_locations:
        candidate = Path(location) / "Qt" / "plugins" / "platforms" / f"libq{platform}.so"
        if candidate.is_file():
            return candidate
    return None


def missing_libraries(plugin: Path | None) -> list[str]:
    """The shared libraries ``plugin`` needs (directly or through Qt's own libraries) that the dynamic loader
    cannot find: ldd's "not found" lines, in order, each once."""
    if plugin is None:
        return []
    try:
        result = subprocess.run(["ldd", str(plugin)], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.SubprocessError):  # no ldd (not glibc): let Qt speak for itself
        return []
    names = re.findall(r"^\s*(\S+) => not found", result.stdout, re.M)
    return list(dict.fromkeys(names))


def apt_packages(libraries: list[str]) -> list[str]:
    """The packages that provide ``libraries``, in order, each once (unknown libraries are left out)."""
    return list(dict.fromkeys(QT_SYSTEM_LIBRARIES[name] for name in libraries if name in QT_SYSTEM_LIBRARIES))


def libraries_sentence(platform: str, libraries: list[str]) -> str:
    packages = apt_packages(libraries)
    unknown = [name for name in libraries if name not in QT_SYSTEM_LIBRARIES]
    remedy = f"install them with: sudo apt-get install {' '.join(packages)}" if packages else ""
    if unknown:
        remedy += (" and " if remedy else "") + f"install the package{'s' if len(unknown) > 1 else ''} that "
        remedy += f"provide{'' if len(unknown) > 1 else 's'} {', '.join(unknown)}"
    return (f"Qt cannot open a window ({platform}): the system librar{'ies' if len(libraries) > 1 else 'y'} "
            f"{', '.join(libraries)} {'are' if len(libraries) > 1 else 'is'} missing; {remedy}.")


def check_gui_platform(
    environ: Mapping[str, str] | None = None,
    system: str = sys.platform,
    find_missing: Callable[[str], list[str]] = lambda platform: missing_libraries(plugin_path(platform)),
) -> None:
    """Raise PlatformUnavailable, with the sentence that says what to do, when Qt could not show a window."""
    if not system.startswith("linux"):
        return
    environ = os.environ if environ is None else environ
    platform = qt_platform(environ)
    if platform not in ("xcb", "wayland"):  # offscreen, minimal, vnc, eglfs ...: no desktop session needed
        return
    if not environ.get("DISPLAY") and not environ.get("WAYLAND_DISPLAY"):
        raise PlatformUnavailable(NO_DISPLAY)
    if platform == "xcb":
        missing = find_missing(platform)
        if missing:
            raise PlatformUnavailable(libraries_sentence(platform, missing))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python3 -m desktop.platform_check", description=__doc__.split("\n")[0])
    parser.add_argument("--platform", help="the Qt platform plug-in to check (default: the one Qt would use here)")
    args = parser.parse_args(argv)
    platform = args.platform or qt_platform()
    if args.platform is None and not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        platform = ""  # no desktop session: no window will open here, so nothing to install for one
    missing = missing_libraries(plugin_path(platform)) if platform else []
    print(" ".join(apt_packages(missing)))
    unknown = [name for name in missing if name not in QT_SYSTEM_LIBRARIES]
    if unknown:
        print(f"platform_check: no package known for {', '.join(unknown)}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
