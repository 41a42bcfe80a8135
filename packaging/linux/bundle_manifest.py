"""What the Linux bundle carries besides the Python packages' own files, decided once, with the reason for each.

PyInstaller collects every Qt plug-in of the types QtGui uses, and copies into the bundle any library from the
build machine that a collected binary links against and that happens to be installed there. Left alone, the
bundle would depend on the build machine: with GTK 3 installed, the GTK theme plug-in pulled libgtk-3.so.0 and
half its stack into it. So this file decides, explicitly:

- QT_PLUGINS: every plug-in PyInstaller can collect from PySide6 (the types in QT_PLUGIN_TYPES), shipped or left
  out. tests/packaging/test_bundle_manifest.py checks the list against the installed PySide6, so a PySide6
  upgrade with a new plug-in fails there with its name, before anything is built.
- SYSTEM_LIBRARIES: the few libraries the bundle takes from the build machine (Python's own C libraries). Every
  other library from outside the Python packages is dropped by packaging/pigeonhole.spec whatever the build
  machine has installed; the package then takes it from the user's system, through Depends
  (packaging/linux/control.in, checked strictly by deb_depends.py) or, for optional plug-ins, through
  Recommends/Suggests.

The spec applies it (`keep_in_bundle`), refuses a plug-in it does not know, and checks the result
(`differences`); pigeonhole-bundle-check compares the built bundle again (`bundle_contents`). Standard library
only: it runs in the spec, the frozen bundle check and the tests.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path, PurePath

# Plug-in types PyInstaller's QtGui hook collects on Linux (PyInstaller/utils/hooks/qt/_modules_info.py); the app's
# other Qt modules (QtCore, QtWidgets, QtSvg) bring none that PySide6 ships.
QT_PLUGIN_TYPES = (
    "accessiblebridge", "egldeviceintegrations", "generic", "iconengines", "imageformats", "platforms",
    "platforminputcontexts", "platformthemes", "styles", "xcbglintegrations", "wayland-decoration-client",
    "wayland-graphics-integration-client", "wayland-shell-integration",
)

SHIP, LEAVE_OUT = "ship", "leave out"

# plug-in (relative to PySide6/Qt/plugins) -> (decision, why).
QT_PLUGINS: dict[str, tuple[str, str]] = {
    # Window systems. Desktops run X11 or Wayland; offscreen is how the smoke tests and headless runs draw.
    "platforms/libqxcb.so": (SHIP, "X11, and XWayland on Wayland desktops: the default everywhere"),
    "platforms/libqwayland.so": (SHIP, "native Wayland (QT_QPA_PLATFORM=wayland, and Qt's default on Wayland)"),
    "platforms/libqoffscreen.so": (SHIP, "no display: smoke tests, --self-test, QT_QPA_PLATFORM=offscreen"),
    "platforms/libqminimal.so": (LEAVE_OUT, "a test platform; offscreen covers headless use"),
    "platforms/libqeglfs.so": (LEAVE_OUT, "full-screen EGL without a window system: embedded devices"),
    "platforms/libqminimalegl.so": (LEAVE_OUT, "embedded EGL test platform"),
    "platforms/libqlinuxfb.so": (LEAVE_OUT, "Linux framebuffer without a window system: embedded devices"),
    "platforms/libqvnc.so": (LEAVE_OUT, "serves the window over VNC: embedded devices"),
    "platforms/libqvkkhrdisplay.so": (LEAVE_OUT, "Vulkan straight to a display, no window system: embedded"),
    "egldeviceintegrations/libqeglfs-emu-integration.so": (LEAVE_OUT, "eglfs only (left out)"),
    "egldeviceintegrations/libqeglfs-kms-egldevice-integration.so": (LEAVE_OUT, "eglfs only (left out)"),
    "egldeviceintegrations/libqeglfs-kms-integration.so": (LEAVE_OUT, "eglfs only; would pull the build "
                                                           "machine's libgbm.so.1 into the bundle"),
    "egldeviceintegrations/libqeglfs-x11-integration.so": (LEAVE_OUT, "eglfs only (left out)"),
    "generic/libqevdevkeyboardplugin.so": (LEAVE_OUT, "raw input devices for eglfs/linuxfb"),
    "generic/libqevdevmouseplugin.so": (LEAVE_OUT, "raw input devices for eglfs/linuxfb"),
    "generic/libqevdevtabletplugin.so": (LEAVE_OUT, "raw input devices for eglfs/linuxfb"),
    "generic/libqevdevtouchplugin.so": (LEAVE_OUT, "raw input devices for eglfs/linuxfb"),
    "generic/libqtuiotouchplugin.so": (LEAVE_OUT, "TUIO network touch input"),
    # OpenGL contexts under X11 (Qt picks one when a window needs GL; tiny, their libraries are in Depends).
    "xcbglintegrations/libqxcb-glx-integration.so": (SHIP, "OpenGL under X11 (GLX)"),
    "xcbglintegrations/libqxcb-egl-integration.so": (SHIP, "OpenGL under X11 (EGL)"),
    # Native Wayland: the shell protocol every desktop compositor speaks, window decorations, EGL buffers.
    "wayland-shell-integration/libxdg-shell.so": (SHIP, "xdg-shell: windows on desktop Wayland compositors"),
    "wayland-shell-integration/libfullscreen-shell-v1.so": (LEAVE_OUT, "kiosk compositors"),
    "wayland-shell-integration/libivi-shell.so": (LEAVE_OUT, "in-vehicle (IVI) compositors"),
    "wayland-shell-integration/libqt-shell.so": (LEAVE_OUT, "Qt-based compositors' own shell"),
    "wayland-shell-integration/libwl-shell-plugin.so": (LEAVE_OUT, "wl_shell, deprecated before any desktop used it"),
    "wayland-decoration-client/libbradient.so": (SHIP, "title bars where the compositor draws none"),
    "wayland-decoration-client/libadwaita.so": (SHIP, "GNOME-style title bars (Qt's choice under GNOME)"),
    "wayland-graphics-integration-client/libqt-plugin-wayland-egl.so": (SHIP, "OpenGL under native Wayland"),
    "wayland-graphics-integration-client/libdmabuf-server.so": (LEAVE_OUT, "server buffers of Qt compositors"),
    "wayland-graphics-integration-client/libdrm-egl-server.so": (LEAVE_OUT, "server buffers of Qt compositors"),
    "wayland-graphics-integration-client/libshm-emulation-server.so": (LEAVE_OUT, "server buffers of Qt "
                                                                        "compositors"),
    "wayland-graphics-integration-client/libvulkan-server.so": (LEAVE_OUT, "server buffers of Qt compositors"),
    # Desktop integration. The app draws its own look (Fusion and its palette, desktop/ui/style.py), so a theme
    # plug-in matters for the native file dialogs (Add Folder, Open/New Project, Sort destination).
    "platformthemes/libqgtk3.so": (SHIP, "GTK file dialogs on GNOME, Xfce, Cinnamon, MATE. GTK 3 itself is "
                                   "never bundled: it must be the desktop's own (its theme, settings, modules); "
                                   "the plug-in loads only where the desktop has GTK 3, which such desktops "
                                   "always do, else Qt ignores it (Suggests: libgtk-3-0)"),
    "platformthemes/libqxdgdesktopportal.so": (SHIP, "file dialogs through the XDG desktop portal "
                                               "(QT_QPA_PLATFORMTHEME=xdgdesktopportal, sandboxes); D-Bus only"),
    "platforminputcontexts/libcomposeplatforminputcontextplugin.so": (SHIP, "dead keys and the Compose key"),
    "platforminputcontexts/libibusplatforminputcontextplugin.so": (SHIP, "IBus input methods (CJK class names)"),
    "platforminputcontexts/libqtvirtualkeyboardplugin.so": (LEAVE_OUT, "on-screen keyboard for kiosks; needs Qt "
                                                            "Quick, which the app does not ship"),
    # Images: photos are decoded by OpenCV and Pillow; Qt reads the SVG icons, the thumbnails (JPEG) and the
    # previews handed to it. The common formats stay, for QImage/QIcon on whatever a user's theme provides.
    "iconengines/libqsvgicon.so": (SHIP, "SVG icons (the window icon is an SVG)"),
    "imageformats/libqsvg.so": (SHIP, "SVG images"),
    "imageformats/libqjpeg.so": (SHIP, "JPEG: the thumbnail cache"),
    "imageformats/libqgif.so": (SHIP, "GIF"),
    "imageformats/libqico.so": (SHIP, "ICO (icon themes)"),
    "imageformats/libqwebp.so": (SHIP, "WebP"),
    "imageformats/libqtiff.so": (SHIP, "TIFF"),
    "imageformats/libqtga.so": (SHIP, "TGA"),
    "imageformats/libqwbmp.so": (SHIP, "WBMP"),
    "imageformats/libqicns.so": (SHIP, "ICNS (macOS icons)"),
    "imageformats/libqpdf.so": (LEAVE_OUT, "PDF pages as images: needs Qt PDF, which the app does not ship"),
}

# Libraries taken from the build machine into the bundle (soname -> why). Python's own C libraries: the frozen
# Python then has the OpenSSL, SQLite, zlib... it was tested with, whatever the user's system has (Debian 13
# renamed some of their packages, e.g. libssl3t64). Each is API-stable and present on every Debian 12 build
# machine, so the bundle is the same on any of them. Everything else from outside the Python packages (X11/XCB,
# Wayland, GL, fontconfig, GLib, D-Bus, GTK, the C++ runtime, ...) comes from the user's system: Depends.
SYSTEM_LIBRARIES: dict[str, str] = {
    "libssl.so.3": "Python's ssl (OpenSSL 3)",
    "libcrypto.so.3": "Python's ssl and hashlib (OpenSSL 3)",
    "libsqlite3.so.0": "Python's sqlite3: the project database, the SQLite version the app was tested with",
    "libz.so.1": "Python's zlib (also Qt's TIFF plug-in)",
    "libbz2.so.1.0": "Python's bz2",
    "liblzma.so.5": "Python's lzma",
    "libzstd.so.1": "Qt's zstd (compressed resources)",
    "libreadline.so.8": "Python's readline",
    "libtinfo.so.6": "readline's terminal database",
}

def shipped_qt_plugins() -> set[str]:
    return {name for name, (decision, _why) in QT_PLUGINS.items() if decision == SHIP}


def qt_plugin_name(dest: str) -> str | None:
    """'platforms/libqxcb.so' for a bundle path like 'PySide6/Qt/plugins/platforms/libqxcb.so', else None."""
    parts = PurePath(dest).parts
    for index in range(len(parts) - 2):
        if parts[index:index + 3] == ("PySide6", "Qt", "plugins"):
            return "/".join(parts[index + 3:])
    return None


def is_python_library(name: str) -> bool:
    """libpython itself: part of the Python that is frozen, wherever that Python's library lives."""
    return re.match(r"libpython3\.\d+", name) is not None


def from_build_machine(source: str, python_dirs: tuple[str, ...]) -> bool:
    """A library the build machine provides (/usr/lib, /usr/local/lib, ...), not one from the Python installation's
    standard library or packages (python_dirs), which are the same on any machine with the same wheels."""
    real = Path(source).resolve()
    return not any(real.is_relative_to(Path(folder).resolve()) for folder in python_dirs)


def keep_in_bundle(dest: str, source: str, python_dirs: tuple[str, ...]) -> tuple[bool, str]:
    """Whether a binary PyInstaller collected goes into the bundle, and why not. Raises ValueError for a Qt plug-in
    that QT_PLUGINS does not decide."""
    plugin = qt_plugin_name(dest)
    if plugin is not None:
        if plugin not in QT_PLUGINS:
            raise ValueError(f"Qt plug-in {plugin} is not decided in packaging/linux/bundle_manifest.py "
                             "(QT_PLUGINS): ship it or leave it out, and say why")
        decision, why = QT_PLUGINS[plugin]
        return decision == SHIP, why
    name = PurePath(dest).name
    if is_python_library(name) or not from_build_machine(source, python_dirs):
        return True, ""
    if name in SYSTEM_LIBRARIES:
        return True, ""
    return False, "from the build machine: the user's system provides it (Depends, Recommends or Suggests)"


def select_binaries(toc: list[tuple[str, str, str]], python_dirs: tuple[str, ...],
                    imports_of: Callable[[str], list[str]]) -> tuple[list[tuple[str, str, str]], dict[str, str]]:
    """PyInstaller's binaries (dest, source, typecode) less what this manifest leaves out; returns (kept, {dest:
    why left out}). A Qt library (PySide6/Qt/lib) stays only if a kept PySide6 binary needs it: imports_of(path)
    names every library a file loads (PyInstaller's ldd-based get_imports), so left-out plug-ins take their own
    Qt libraries (and those libraries' system libraries) with them."""
    kept, left_out = [], {}
    for entry in toc:
        dest, source, typecode = entry
        if typecode == "SYMLINK":
            kept.append(entry)
            continue
        keep, why = keep_in_bundle(dest, source, python_dirs)
        if keep:
            kept.append(entry)
        else:
            left_out[dest] = why

    def is_qt_library(dest: str) -> bool:
        return PurePath(dest).parent.parts[-3:] == ("PySide6", "Qt", "lib")

    needed = set()
    for dest, source, typecode in kept:
        if typecode != "SYMLINK" and PurePath(dest).parts[0] == "PySide6" and not is_qt_library(dest):
            needed.update(imports_of(source))
    for dest, source, typecode in list(kept):
        if typecode != "SYMLINK" and is_qt_library(dest) and PurePath(dest).name not in needed:
            kept.remove((dest, source, typecode))
            left_out[dest] = "a Qt library that only left-out plug-ins need"
    # PyInstaller's links to a library from the top folder go with it.
    kept = [(dest, source, typecode) for dest, source, typecode in kept
            if typecode != "SYMLINK" or str(PurePath(dest).parent / source) not in left_out]
    return kept, left_out


def toc_contents(toc: list[tuple[str, str, str]], python_dirs: tuple[str, ...]) -> tuple[set[str], set[str]]:
    """(Qt plug-ins, system libraries) a PyInstaller binaries list puts in the bundle, as bundle_contents() reads
    them from a built one."""
    plugins = {name for dest, _source, _typecode in toc if (name := qt_plugin_name(dest)) is not None}
    libraries = {PurePath(dest).name for dest, source, typecode in toc
                 if typecode != "SYMLINK" and not is_python_library(PurePath(dest).name)
                 and qt_plugin_name(dest) is None and from_build_machine(source, python_dirs)}
    return plugins, libraries


def bundle_contents(internal: Path) -> tuple[set[str], set[str]]:
    """(Qt plug-ins, system libraries) in a built bundle's _internal folder. PyInstaller puts the libraries it
    takes from outside the Python packages at the top of _internal; the packages' own keep their folders."""
    plugins_dir = internal / "PySide6" / "Qt" / "plugins"
    plugins = {str(path.relative_to(plugins_dir)) for path in plugins_dir.rglob("*.so")} if plugins_dir.is_dir() \
        else set()
    # The top folder's symbolic links (PyInstaller's, e.g. libz.915b4635.so.1) point into the packages' folders.
    libraries = {path.name for path in internal.iterdir()
                 if path.is_file() and not path.is_symlink() and re.match(r"^lib.+\.so(\.\d+)*$", path.name)
                 and not is_python_library(path.name)}
    return plugins, libraries


def differences(plugins: set[str], libraries: set[str]) -> list[str]:
    """Why a bundle's Qt plug-ins and system libraries differ from this manifest: one line per name."""
    problems = [f"unexpected Qt plug-in {name}" for name in sorted(plugins - shipped_qt_plugins())]
    problems += [f"missing Qt plug-in {name}" for name in sorted(shipped_qt_plugins() - plugins)]
    problems += [f"unexpected system library {name}" for name in sorted(libraries - set(SYSTEM_LIBRARIES))]
    problems += [f"missing system library {name}" for name in sorted(set(SYSTEM_LIBRARIES) - libraries)]
    return problems
