"""Check a frozen bundle's shared-library needs against the .deb's Depends, and fill in the version floors.

    python3 packaging/linux/deb_depends.py BUNDLE_DIR CONTROL_IN > control

Reads every ELF file in BUNDLE_DIR, takes each library it needs (DT_NEEDED) that the bundle does not carry, finds
the file the dynamic loader would use on this build machine (`ldconfig -p`) and the Debian package that owns it
(`dpkg -S`). Fails if such a package is not named in the template's Depends (an alternative counts), so a
library newly dropped from the bundle (packaging/pigeonhole.spec) cannot be forgotten. Libraries needed only by
optional parts (the GTK theme plug-in, Wayland, the NVIDIA driver) are reported, not required. Replaces
@GLIBC@ and @GCC@ with the newest GLIBC_x.y / GLIBCXX_3.4.n symbol versions the bundle uses, @VERSION@ and
@INSTALLED_SIZE@ (KiB) from the environment variables VERSION and INSTALLED_SIZE, and the package name, its
relations to the other build's package and its description's last paragraph from packaging/flavours.py, for
the build PIGEONHOLE_BUILD names (full when unset, or cpu).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import flavours  # packaging/flavours.py

# Missing libraries that are fine, because only optional parts need them (each with the reason).
OPTIONAL = {
    "libcuda.so.1": "the NVIDIA driver: present where there is an NVIDIA GPU; torch runs on the CPU without it",
    "libgtk-3.so.0": "Qt's GTK theme plug-in (native dialogs under GNOME when GTK 3 is installed)",
    "libgdk-3.so.0": "Qt's GTK theme plug-in",
    "libwayland-cursor.so.0": "Qt's native Wayland plug-in; without it Qt uses XWayland (xcb)",
    "libwayland-egl.so.1": "Qt's native Wayland plug-in (EGL)",
}
OPTIONAL_USERS = re.compile(r"(platformthemes/libqgtk3|wayland|libQt6Wl|libcaffe2_nvrtc)")
# GLIBCXX_3.4.n -> the GCC release whose libstdc++6 first provides it.
GLIBCXX_TO_GCC = {28: 9, 29: 11, 30: 12, 31: 13, 32: 14, 33: 15}


def elf_files(root: Path):
    for path in root.rglob("*"):
        if path.is_file() and not path.is_symlink():
            with open(path, "rb") as file:
                if file.read(4) == b"\x7fELF":
                    yield path


def needed_and_versions(path: Path) -> tuple[list[str], set[str]]:
    dynamic = subprocess.run(["readelf", "-dW", str(path)], capture_output=True, text=True).stdout
    needed = re.findall(r"\(NEEDED\)\s+Shared library: \[(.+?)\]", dynamic)
    versions = subprocess.run(["readelf", "-VW", str(path)], capture_output=True, text=True).stdout
    return needed, set(re.findall(r"Name: (GLIBC(?:XX)?_[0-9.]+)", versions))


def loader_paths() -> dict[str, str]:
    paths: dict[str, str] = {}
    for line in subprocess.run(["ldconfig", "-p"], capture_output=True, text=True).stdout.splitlines()[1:]:
        match = re.match(r"\s+(\S+) \((.*?)\) => (\S+)", line)
        if match and "x86-64" in match.group(2):
            paths.setdefault(match.group(1), match.group(3))
    return paths


def owning_package(path: str) -> str | None:
    for candidate in (os.path.realpath(path), path, re.sub(r"^/lib", "/usr/lib", path)):
        result = subprocess.run(["dpkg", "-S", candidate], capture_output=True, text=True)
        if result.returncode == 0:
            return result.stdout.split(":", 1)[0].strip()
    return None


def render_control(template: str, flavour: str) -> str:
    """The template with one build's package name, relations to the other package and description filled in."""
    for key, value in flavours.control_fields(flavour).items():
        template = template.replace(f"@{key}@", value)
    return template


def version_key(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in version.split("."))


def main() -> int:
    bundle, template = Path(sys.argv[1]), Path(sys.argv[2])
    carried = {path.name for path in bundle.rglob("*")}
    missing: dict[str, set[str]] = defaultdict(set)
    glibc, glibcxx = "2.17", "3.4.0"
    for path in elf_files(bundle):
        needed, versions = needed_and_versions(path)
        for version in versions:
            number = version.split("_", 1)[1]
            if version.startswith("GLIBCXX_"):
                glibcxx = max(glibcxx, number, key=version_key)
            elif version.startswith("GLIBC_"):
                glibc = max(glibc, number, key=version_key)
        for library in needed:
            if library not in carried:
                missing[library].add(str(path.relative_to(bundle)))

    control = template.read_text()
    depends_line = re.search(r"^Depends:(.*(?:\n[ \t].*)*)", control, re.M).group(1)
    groups = [[name.split("(")[0].strip() for name in group.split("|")] for group in depends_line.split(",")
              if group.strip()]
    declared = {name for group in groups for name in group}
    paths = loader_paths()
    required: dict[str, set[str]] = defaultdict(set)
    problems = []
    for library, users in sorted(missing.items()):
        optional = library in OPTIONAL or all(OPTIONAL_USERS.search(user) for user in users)
        path = paths.get(library)
        package = owning_package(path) if path else None
        if optional:
            print(f"deb_depends: optional {library} ({package or 'not installed here'}), needed by "
                  f"{', '.join(sorted(users)[:2])}{' ...' if len(users) > 2 else ''}", file=sys.stderr)
            continue
        if package is None:
            problems.append(f"{library} (needed by {', '.join(sorted(users)[:3])}) is not installed on this machine")
            continue
        required[package.split(":")[0]].add(library)
    for package, libraries in sorted(required.items()):
        if package not in declared:
            problems.append(f"package {package} (for {', '.join(sorted(libraries))}) is missing from Depends")
    if problems:
        print("deb_depends: the bundle needs libraries its Depends does not cover:\n  " + "\n  ".join(problems),
              file=sys.stderr)
        return 1
    unused = [" | ".join(group) for group in groups
              if not set(group) & set(required) and group != ["libc6"]]
    print(f"deb_depends: {len(required)} packages required by the bundle, all in Depends; declared but not "
          f"needed directly (kept for plug-ins loaded at run time): {', '.join(unused) or 'none'}", file=sys.stderr)
    gcc = GLIBCXX_TO_GCC.get(int(glibcxx.rsplit(".", 1)[1]), 12)
    print(f"deb_depends: newest symbol versions used: GLIBC_{glibc}, GLIBCXX_{glibcxx} (libstdc++6 >= {gcc})",
          file=sys.stderr)
    control = render_control(control, flavours.flavour_from_environment())
    control = (control.replace("@GLIBC@", glibc).replace("@GCC@", str(gcc))
               .replace("@VERSION@", os.environ["VERSION"]).replace("@INSTALLED_SIZE@", os.environ["INSTALLED_SIZE"]))
    sys.stdout.write(control)
    return 0


if __name__ == "__main__":
    sys.exit(main())
