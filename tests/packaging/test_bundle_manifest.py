"""packaging/linux/bundle_manifest.py: every Qt plug-in decided, and nothing from the build machine but the listed
libraries gets into the Linux bundle. Runs without building (the spec and the bundle check use the same code)."""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the Linux bundle")

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def manifest():
    path = ROOT / "packaging" / "linux" / "bundle_manifest.py"
    spec = importlib.util.spec_from_file_location("bundle_manifest", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def pyside_dir() -> Path:
    return Path(importlib.util.find_spec("PySide6").submodule_search_locations[0])


def installed_plugins(manifest, pyside_dir: Path) -> set[str]:
    plugins = pyside_dir / "Qt" / "plugins"
    return {str(path.relative_to(plugins)) for path in plugins.rglob("*.so")
            if path.relative_to(plugins).parts[0] in manifest.QT_PLUGIN_TYPES}


def test_every_qt_plugin_pyinstaller_can_collect_is_decided(manifest, pyside_dir):
    installed = installed_plugins(manifest, pyside_dir)
    assert installed, "no Qt plug-ins found in the installed PySide6"
    assert sorted(installed - set(manifest.QT_PLUGINS)) == [], "installed but not decided in QT_PLUGINS"
    assert sorted(set(manifest.QT_PLUGINS) - installed) == [], "decided in QT_PLUGINS but not in this PySide6"
    assert {"platforms/libqxcb.so", "platforms/libqoffscreen.so", "iconengines/libqsvgicon.so"} \
        <= manifest.shipped_qt_plugins()
    for name, (decision, why) in manifest.QT_PLUGINS.items():
        assert decision in (manifest.SHIP, manifest.LEAVE_OUT) and why, name


def fake_library(folder: Path, name: str) -> str:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"\x7fELF")
    return str(path)


def test_the_build_machines_gtk_stays_out_whatever_is_installed(manifest, tmp_path):
    # The issue: on a build machine with GTK 3, the GTK theme plug-in pulled libgtk-3.so.0 (and half its stack)
    # into the bundle. Only Python's own C libraries may come from the machine; the plug-in itself ships.
    site = tmp_path / "site-packages"
    system = tmp_path / "usr" / "lib" / "x86_64-linux-gnu"
    toc = [
        ("PySide6/Qt/plugins/platformthemes/libqgtk3.so",
         fake_library(site, "PySide6/Qt/plugins/platformthemes/libqgtk3.so"), "BINARY"),
        ("libgtk-3.so.0", fake_library(system, "libgtk-3.so.0"), "BINARY"),
        ("libgdk-3.so.0", fake_library(system, "libgdk-3.so.0"), "BINARY"),
        ("libgbm.so.1", fake_library(system, "libgbm.so.1"), "BINARY"),
        ("libkrb5.so.3", fake_library(system, "libkrb5.so.3"), "BINARY"),
        ("libssl.so.3", fake_library(system, "libssl.so.3"), "BINARY"),
        ("libpython3.11.so.1.0", fake_library(tmp_path / "usr" / "lib", "libpython3.11.so.1.0"), "BINARY"),
        ("torch/lib/libtorch_cpu.so", fake_library(site, "torch/lib/libtorch_cpu.so"), "BINARY"),
    ]
    kept, left_out = manifest.select_binaries(toc, (str(site),), lambda path: [])
    assert sorted(dest for dest, _, _ in kept) == [
        "PySide6/Qt/plugins/platformthemes/libqgtk3.so", "libpython3.11.so.1.0", "libssl.so.3",
        "torch/lib/libtorch_cpu.so"]
    assert sorted(left_out) == ["libgbm.so.1", "libgdk-3.so.0", "libgtk-3.so.0", "libkrb5.so.3"]
    plugins, libraries = manifest.toc_contents(kept, (str(site),))
    assert libraries == {"libssl.so.3"}
    assert "unexpected system library libgtk-3.so.0" not in manifest.differences(plugins, libraries)


def test_left_out_plugins_take_the_qt_libraries_only_they_need(manifest, tmp_path):
    site = tmp_path / "site-packages"
    qt_lib = "PySide6/Qt/lib"
    toc = [
        ("PySide6/Qt/plugins/platforms/libqxcb.so", fake_library(site, "PySide6/Qt/plugins/platforms/libqxcb.so"),
         "BINARY"),
        ("PySide6/Qt/plugins/platforms/libqvnc.so", fake_library(site, "PySide6/Qt/plugins/platforms/libqvnc.so"),
         "BINARY"),
        (f"{qt_lib}/libQt6XcbQpa.so.6", fake_library(site, f"{qt_lib}/libQt6XcbQpa.so.6"), "BINARY"),
        (f"{qt_lib}/libQt6Network.so.6", fake_library(site, f"{qt_lib}/libQt6Network.so.6"), "BINARY"),
        ("libQt6Network.so.6", f"{qt_lib}/libQt6Network.so.6", "SYMLINK"),
        ("libQt6XcbQpa.so.6", f"{qt_lib}/libQt6XcbQpa.so.6", "SYMLINK"),
    ]
    needs = {"libqxcb.so": ["libQt6XcbQpa.so.6"], "libqvnc.so": ["libQt6Network.so.6"]}
    kept, left_out = manifest.select_binaries(toc, (str(site),), lambda path: needs.get(Path(path).name, []))
    assert sorted(dest for dest, _, _ in kept) == [
        "PySide6/Qt/lib/libQt6XcbQpa.so.6", "PySide6/Qt/plugins/platforms/libqxcb.so", "libQt6XcbQpa.so.6"]
    assert set(left_out) == {"PySide6/Qt/plugins/platforms/libqvnc.so", "PySide6/Qt/lib/libQt6Network.so.6"}


def test_an_undecided_plugin_is_refused_by_name(manifest, tmp_path):
    source = fake_library(tmp_path, "libqnew.so")
    with pytest.raises(ValueError, match=r"platforms/libqnew\.so"):
        manifest.select_binaries([("PySide6/Qt/plugins/platforms/libqnew.so", source, "BINARY")], (str(tmp_path),),
                                 lambda path: [])


@pytest.mark.skipif(shutil.which("ldd") is None, reason="needs ldd")
def test_the_shipped_plugins_qt_libraries_in_the_installed_pyside6(manifest, pyside_dir):
    # The real closure over the installed wheel, as the spec computes it (ldd lists every library a file loads).
    def imports_of(path: str) -> list[str]:
        output = subprocess.run(["ldd", path], capture_output=True, text=True).stdout
        return [line.split()[0] for line in output.splitlines() if line.strip()]

    plugins = pyside_dir / "Qt" / "plugins"
    toc = [(str(Path("PySide6/Qt/plugins") / name), str(plugins / name), "BINARY")
           for name in installed_plugins(manifest, pyside_dir)]
    toc += [(f"PySide6/Qt/lib/{path.name}", str(path), "BINARY") for path in (pyside_dir / "Qt" / "lib").glob("*.so.6")]
    toc += [(f"PySide6/{path.name}", str(path), "EXTENSION")
            for name in ("QtCore", "QtGui", "QtWidgets", "QtSvg") for path in pyside_dir.glob(f"{name}.*.so")]
    kept, _ = manifest.select_binaries(toc, (str(pyside_dir.parent),), imports_of)
    qt_libraries = {Path(dest).name for dest, _, _ in kept if "/Qt/lib/" in dest}
    assert {"libQt6Core.so.6", "libQt6Gui.so.6", "libQt6Widgets.so.6", "libQt6XcbQpa.so.6",
            "libQt6WaylandClient.so.6", "libQt6DBus.so.6"} <= qt_libraries
    # Only the left-out eglfs, VNC/TUIO and wl-shell plug-ins need these (and QtNetwork needs Kerberos).
    assert not {"libQt6EglFSDeviceIntegration.so.6", "libQt6Network.so.6", "libQt6WlShellIntegration.so.6"} \
        & qt_libraries
    assert manifest.toc_contents(kept, (str(pyside_dir.parent),))[0] == manifest.shipped_qt_plugins()


def test_a_built_bundle_is_compared_by_name(manifest, tmp_path):
    internal = tmp_path / "_internal"
    for name in manifest.shipped_qt_plugins() - {"platforms/libqwayland.so"}:
        fake_library(internal / "PySide6" / "Qt" / "plugins", name)
    for name in [*manifest.SYSTEM_LIBRARIES, "libgtk-3.so.0", "libpython3.11.so.1.0"]:
        fake_library(internal, name)
    fake_library(internal, "opencv_python_headless.libs/libz.915b4635.so.1")
    os.symlink("opencv_python_headless.libs/libz.915b4635.so.1", internal / "libz.915b4635.so.1")
    plugins, libraries = manifest.bundle_contents(internal)
    assert manifest.differences(plugins, libraries) == [
        "missing Qt plug-in platforms/libqwayland.so", "unexpected system library libgtk-3.so.0"]
