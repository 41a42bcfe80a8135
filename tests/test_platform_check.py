"""The check that runs before Qt is imported: no display, or Qt's X11 libraries missing, is one sentence."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from desktop import platform_check
from desktop.platform_check import NO_DISPLAY, PlatformUnavailable, check_gui_platform, missing_libraries

ROOT = Path(__file__).resolve().parents[1]
X11 = {"DISPLAY": ":0"}


def no_missing(platform: str) -> list[str]:
    return []


def test_no_display_is_one_sentence_that_points_at_the_command_line() -> None:
    with pytest.raises(PlatformUnavailable) as raised:
        check_gui_platform({}, "linux", find_missing=no_missing)
    assert str(raised.value) == NO_DISPLAY
    assert "pigeonhole --help" in NO_DISPLAY and NO_DISPLAY.count(". ") == 0


def test_pigeonhole_without_a_display_says_so_instead_of_aborting(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM")}
    result = subprocess.run([sys.executable, "-m", "desktop", str(tmp_path / "p.pigeonhole")], capture_output=True,
                            text=True, env=env, cwd=ROOT, timeout=120)
    assert result.returncode == 1
    assert result.stderr.splitlines() == [f"pigeonhole: error: {NO_DISPLAY}"]
    assert not (tmp_path / "p.pigeonhole").exists()


def test_missing_xcb_libraries_are_named_with_the_apt_command() -> None:
    """The case behind the finding: Qt blamed libxcb-cursor0, the loader lacked libxcb-icccm4 and -keysyms1."""
    asked = []

    def icccm_and_keysyms_missing(platform: str) -> list[str]:
        asked.append(platform)
        return ["libxcb-icccm.so.4", "libxcb-keysyms.so.1"]

    with pytest.raises(PlatformUnavailable) as raised:
        check_gui_platform(X11, "linux", find_missing=icccm_and_keysyms_missing)
    message = str(raised.value)
    assert asked == ["xcb"]
    assert "libxcb-icccm.so.4, libxcb-keysyms.so.1 are missing" in message
    assert message.endswith("install them with: sudo apt-get install libxcb-icccm4 libxcb-keysyms1.")
    assert "cursor" not in message


def test_a_library_without_a_known_package_is_named_by_its_file() -> None:
    with pytest.raises(PlatformUnavailable) as raised:
        check_gui_platform({"DISPLAY": ":1", "QT_QPA_PLATFORM": "xcb"}, "linux",
                           find_missing=lambda platform: ["libglib-2.0.so.0", "libweird.so.7"])
    message = str(raised.value)
    assert "sudo apt-get install libglib2.0-0 and install the package that provides libweird.so.7." in message


@pytest.mark.parametrize("environ", [
    {"QT_QPA_PLATFORM": "offscreen"},                   # tests, CI: no display needed
    {"QT_QPA_PLATFORM": "minimal", "DISPLAY": ":0"},
    {"WAYLAND_DISPLAY": "wayland-0"},                   # a Wayland session: Qt uses its Wayland plug-in
    {"QT_QPA_PLATFORM": "wayland", "WAYLAND_DISPLAY": "wayland-0", "DISPLAY": ":0"},
])
def test_only_xcb_needs_the_x11_libraries(environ: dict[str, str]) -> None:
    def must_not_be_asked(platform: str) -> list[str]:
        raise AssertionError(f"checked {platform} libraries for {environ}")

    check_gui_platform(environ, "linux", find_missing=must_not_be_asked)


def test_other_systems_are_not_checked() -> None:
    check_gui_platform({}, "darwin", find_missing=no_missing)
    check_gui_platform({}, "win32", find_missing=no_missing)


def test_qt_platform_reads_the_first_choice() -> None:
    assert platform_check.qt_platform({"QT_QPA_PLATFORM": "xcb;wayland"}) == "xcb"
    assert platform_check.qt_platform({"QT_QPA_PLATFORM": "vnc:size=800x600"}) == "vnc"
    assert platform_check.qt_platform({"DISPLAY": ":0"}) == "xcb"


def test_missing_libraries_reads_the_loaders_not_found_lines(tmp_path: Path) -> None:
    """A real ldd run: PySide6's xcb plug-in copied away from Qt's libraries (found through its RPATH) lacks them."""
    plugin = platform_check.plugin_path("xcb")
    if plugin is None:
        pytest.skip("PySide6 has no xcb plug-in here")
    moved = tmp_path / "platforms" / plugin.name
    moved.parent.mkdir()
    shutil.copy(plugin, moved)
    missing = missing_libraries(moved)
    assert "libQt6XcbQpa.so.6" in missing and "libQt6Gui.so.6" in missing
    assert len(missing) == len(set(missing))
    assert not any(name.startswith("libc.so") for name in missing)
    assert missing_libraries(None) == []


def test_main_prints_the_packages_to_install(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    monkeypatch.setattr(platform_check, "missing_libraries",
                        lambda plugin: ["libxcb-keysyms.so.1", "libgthread-2.0.so.0", "libglib-2.0.so.0"])
    assert platform_check.main(["--platform", "xcb"]) == 0
    assert capsys.readouterr().out == "libxcb-keysyms1 libglib2.0-0\n"


def test_the_deb_depends_on_every_package_the_check_names() -> None:
    """One list: what the check tells a user to install is what the .deb makes apt install."""
    control = (ROOT / "packaging" / "linux" / "control.in").read_text()
    depends = re.search(r"^Depends:(.*(?:\n[ \t].*)*)", control, re.M).group(1)
    declared = {name.split("(")[0].strip() for group in depends.split(",") for name in group.split("|")}
    assert set(platform_check.QT_SYSTEM_LIBRARIES.values()) - declared == set()
