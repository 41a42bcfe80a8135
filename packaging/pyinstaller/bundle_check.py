"""pigeonhole-bundle-check: does this frozen bundle carry everything the app loads? (internal; packaging only)

Built by packaging/pigeonhole.spec as a second executable beside `pigeonhole`, sharing its _internal/ folder,
so it sees exactly the modules and libraries the app sees. It checks the compiled parts `pigeonhole --self-test`
(training end to end) does not reach: OpenCV, the photo decoders, SciPy's optimiser, Alembic's migration files,
Qt's SVG icon and platform plug-ins, and, on Linux, that the bundle's Qt plug-ins and system libraries are
exactly those of packaging/linux/bundle_manifest.py and that every CUDA, torch and Qt library was mapped from
inside the bundle rather than from the system. Then, by the build the bundle's marker names
(packaging/flavours.py): the full build's torch, torchvision's compiled ops, the built-in EfficientNet-Lite
weights through desktop.ml.backbones, DataLoader workers and the ONNX exporter; the CPU build's absence of
everything torch (it fails if any of it slipped in) and its built-in backbones' ONNX files run in ONNX Runtime.
Prints one JSON object; exit code 0 only if all passed.

    /opt/pigeonhole/pigeonhole-bundle-check [--require-frozen]
"""

from __future__ import annotations

import json
import os
import re
import sys
import tempfile
import time
import traceback
from pathlib import Path

CHECKS: list[dict] = []

# A 16 x 12 HEIC (heif-enc) and a 32 x 24 DNG without preview, zlib-compressed: made by tests/formatmakers.py.
_TINY_HEIC = (
    "eNpjYGCQSSupLMhIzUxmAILczDRDEDs3MzGNgYFxbW5qSSIDBChmpOQUQdkMBZnJJQxogK8gsyQXzGICYoHMlESIEgEGHiBpkZmTn8wI"
    "ZLg4AOUZIVoYL8JYDD4IUTjNAdaXmZcGN1UUyEllAqkAqskoSzZkQBIEK0kvykwBMW9kFhQVAOltmQXJ+UC6DKjamZG5AO5cuQ8Mf/7+"
    "+MHAwM+sADRNwoGRh/H/f5ACZoYJIAKI5HYxOSgCJbWcGBnRZBYoNLJOe7Vu1rMHDg4HGkBCYKJFCaiczYXxYPHBTqAlIpnFBalQCx2g"
    "GFlMAIhBoSNQkFmRCRJg5uAA+VoqsyAXFvDAcGFqZGJgYmJuAcsUpabBQjwlMzcdHG6gEAvJhYS4hwbjes4T2WxiSmdrvOwrlzDbRyve"
    "NHNgtV7bopNjeN3eP769fKX90TClGuHPx//m5Au1P/szr+GrOMe/kpwXF6ZfsDbmPFywMuZkAQD1jmqU"
)
_TINY_DNG = (
    "eNqNlG9o3GQYwN/8v8sllzfJXZLW3kzaDdykcFfxD1bm3dZ1q67dnQ6xdbqcs+2UdbubmzBla65F2+FaUvZFWTdSPwidoj3Yh32QklPo"
    "VAbmRFA/qClW6iyDO1DRgX9yWyb9sIBJnry/PPnlfd6HF9LTswWEAADN4G+AAwT4B3KL1Qb6rHiBIthNZrzAfG4E6XObAQCHoCDicbeX"
    "gB433Cc8Ftb58XWc8hzSG5/zHrb5+Ubd7T436nb5a/jUu+3w2cABmBrDANpYl3dOjyFeBzcXjApLt9hTwXoWbzNYx94EzUvYf70nfP6H"
    "A0BbokHY4yEvcc8SATCPP/B4wHfi/jfZF4cHjxw+eOTQIAB7B18+ph7IjwwezXv5rr6dfr3b899p/L/vgwKAG5x1x4uzv2Xrr5DL3dBG"
    "wtWnWIcV+ba42h3kk/rvInw7UpqO8ZPhoiBX8Dgi8ua5IB86K2TW4GvXGXNCBLOh1AukOcA7fwb5ceOSlNvKW/tENRZNzynuHtnayJk/"
    "B/l0ciFSPYm7V5DkRdn6I1Se5vjXgH45yMfNdizTpmSOwvJ43CbQej+KTMbmTgX5Svol2voa6mWsfIxPw1huI27+xhiRwH7Tpwnr/Xh1"
    "DDNcEQyTjk6kDhCFgSCfyeyMWTf4yijnnkXBd4R9Hcw9KZsPB/nowt1kkWDhiFxp4qonRKsDLPfTSTlwf+s6Dq9y7ulobkrQTyFmD1nR"
    "yUpXkI+kEjFjGw8uSLlD0YLL26uC1SsaXwp2lbLaWG0SuCsRFWVn7hdKE2xyTVFHxdrjYYSNFvpgYVUGNYk30GQLY15hlzdTbjcPzsnJ"
    "Jr7cStptVO2CUnyWsD+K1kewfIesHSbdjqiTwJItROYZ6PylWEugliFLbMgdRSstwLwsmJ/zWidhbkL0VdLsE3LbZecTln+T8RrJlxBv"
    "S1Q7Vt1B1+oiTzLaiASb2bleFL7FLIzx+akw/xDqfgzUeZDbryRbY8W7qFKngjzKZw1O28o7A3Ta5LPv0oVvooV2Gb6D64Cubqbye/Ha"
    "g+FKE1XcBUqTiJYDcJ4qT8Dc63T2M6bUzpRHcHuR1PqxvCLZx8n6fVF7RYKbSGdWchOR7CLIvgeT85T1i2KkKO04ledDlZ7o3BBXu8Yk"
    "IYa0cLUf0eXHRPcrMreDRaYpcCYGu0JgVtDaxYUPOX1NTHdQ9VYCFJTCbqXej7nLIVjhUsNyuhUvSoQ6HrW6lSpLWDMwOc6VToTVPZR6"
    "lXXDEGa4ch6vdgLne2g9LRo/0AUcyyVobYPi/fmMXykjwWWfx8BPXPo8Vz4j1IvIwiOh2hqflyTrATx9Ek9toDMHKThJFfbHkV2Ufi1e"
    "W5SMIcJKcDaFF1YjYDdTfUMxtwjOpYh1Pubui87cS+cQtN5KmRqlT0H4Rcy5KKkwpPaGS69ieuZf6CjPVg=="
)


def check(name: str):
    def run(function):
        started = time.perf_counter()
        try:
            detail = function()
            CHECKS.append({"check": name, "ok": True, "detail": detail})
        except Exception as exc:
            CHECKS.append({"check": name, "ok": False, "detail": f"{type(exc).__name__}: {exc}",
                           "traceback": traceback.format_exc().splitlines()[-6:]})
        CHECKS[-1]["seconds"] = round(time.perf_counter() - started, 3)
        return function

    return run


BUNDLE = Path(getattr(sys, "_MEIPASS", Path(__file__).resolve().parent))


def bundle_flavour() -> str:
    """The build this bundle is (its marker file); run from a checkout, the build this environment is."""
    import flavours

    if getattr(sys, "frozen", False) or (BUNDLE / flavours.MARKER).exists():
        return flavours.bundle_flavour(BUNDLE)
    from desktop.ml.builds import torch_installed

    return flavours.FULL if torch_installed() else flavours.CPU


class SquaresDataset:
    """A picklable map-style dataset for the DataLoader-worker check (workers unpickle it by this name)."""

    def __len__(self) -> int:
        return 8

    def __getitem__(self, index: int):
        import torch

        return torch.full((2,), float(index * index))


def inside_bundle(path: str | Path) -> bool:
    return Path(os.path.realpath(path)).is_relative_to(os.path.realpath(BUNDLE))


def torch_checks() -> None:
    """The full build: torch, torchvision's compiled ops, the PyTorch weights, workers, the ONNX exporter."""

    @check("torch")
    def _torch():
        import torch

        x = torch.randn(64, 64)
        assert torch.allclose((x @ torch.eye(64)), x)
        return {"version": torch.__version__, "built_with_cuda": torch.version.cuda,
                "cuda_available": torch.cuda.is_available(), "threads": torch.get_num_threads(),
                "file_in_bundle": inside_bundle(torch.__file__)}

    @check("torchvision.ops.nms")  # needs torchvision's _C_stable extension
    def _nms():
        import torch
        import torchvision

        boxes = torch.tensor([[0, 0, 10, 10], [1, 1, 11, 11], [50, 50, 60, 60]], dtype=torch.float32)
        keep = torchvision.ops.nms(boxes, torch.tensor([0.9, 0.8, 0.7]), 0.5).tolist()
        assert keep == [0, 2], keep
        return {"version": torchvision.__version__, "keep": keep}

    @check("torchvision.io jpeg")  # needs torchvision's image_stable extension
    def _jpeg():
        import torch
        from torchvision.io import decode_jpeg, encode_jpeg

        image = (torch.arange(3 * 32 * 48) % 251).to(torch.uint8).reshape(3, 32, 48)
        decoded = decode_jpeg(encode_jpeg(image, quality=95))
        assert tuple(decoded.shape) == (3, 32, 48), decoded.shape
        return {"shape": list(decoded.shape)}

    @check("built-in weights (EfficientNet-Lite0)")
    def _weights():
        import torch

        from desktop.ml.backbones import (
            ACCURATE_FEATURE_SET,
            DEFAULT_BACKBONE,
            build_feature_extractor,
            get_backbone,
            weights_status,
        )

        status = weights_status(DEFAULT_BACKBONE)
        assert status.available and status.source == "bundled", status
        assert inside_bundle(status.path), f"{status.path} is outside the bundle"
        accurate = weights_status(ACCURATE_FEATURE_SET)  # Lite0 + Lite1: the "Accurate" choice of the Train tab
        assert accurate.available and accurate.source == "bundled", accurate
        spec = get_backbone(DEFAULT_BACKBONE)
        extractor, features = build_feature_extractor(spec, status.path)
        extractor.eval()
        with torch.inference_mode():
            out = extractor(torch.zeros(2, 3, spec.input_size, spec.input_size))
        assert tuple(out.shape) == (2, features), out.shape
        # One optimiser step on a head, as a frozen-backbone training run does.
        head = torch.nn.Linear(features, 3)
        optimizer = torch.optim.AdamW(head.parameters(), lr=1e-3)
        loss = torch.nn.functional.cross_entropy(head(out.clone()), torch.tensor([0, 2]))
        loss.backward()
        optimizer.step()
        loss = loss.detach()
        return {"backbone": spec.name, "file": str(Path(status.path).relative_to(BUNDLE)),
                "mb": round(Path(status.path).stat().st_size / 2**20, 1), "features": features,
                "loss": round(float(loss), 4)}

    @check("dataloader workers (spawn, forkserver)")
    def _workers():
        # Spawned workers re-run this executable: they only work if the entry script calls freeze_support().
        import torch
        from torch.utils.data import DataLoader

        seen = {}
        for method, workers in (("spawn", 2), ("forkserver", 1)):
            loader = DataLoader(SquaresDataset(), batch_size=4, num_workers=workers, multiprocessing_context=method)
            total = sum(float(batch.sum()) for batch in loader)
            assert total == 2 * sum(i * i for i in range(8)), total
            seen[method] = workers
        return {"workers": seen, "torch_threads": torch.get_num_threads()}

    @check("model export: ONNX exporter and runtime")
    def _onnx():
        import contextlib
        import io
        import tempfile

        import numpy as np
        import onnxruntime
        import torch

        # A tiny network through the same exporter and runtime `pigeonhole export --what onnx` and
        # `predict-file` use: catches modules PyInstaller missed (torch's exporter loads them by name).
        model = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.Softmax(dim=1)).eval()
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / "tiny.onnx"
            with contextlib.redirect_stdout(io.StringIO()):  # the exporter narrates on stdout; ours is JSON
                torch.onnx.export(model, (torch.zeros(1, 4),), str(path), input_names=["x"], output_names=["p"],
                                  dynamo=True, external_data=False, verbose=False)
            session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
            (probabilities,) = session.run(None, {"x": np.ones((1, 4), np.float32)})
        expected = model(torch.ones(1, 4)).detach().numpy()
        assert np.allclose(probabilities, expected, atol=1e-5), (probabilities, expected)
        return {"onnxruntime": onnxruntime.__version__}


def cpu_checks() -> None:
    """The CPU build: nothing of torch in it, and the built-in backbones run from their ONNX files."""

    @check("torch left out (CPU build)")
    def _no_torch():
        import importlib.util

        import flavours

        from desktop.ml.builds import build_name

        found = flavours.torch_only_parts(BUNDLE)
        assert not found, f"the CPU bundle carries {found}"
        importable = [name for name in flavours.TORCH_ONLY if importlib.util.find_spec(name) is not None]
        assert not importable, f"importable in the CPU bundle: {importable}"
        assert build_name() == "CPU", build_name()
        return {"left_out": list(flavours.TORCH_ONLY), "build": build_name()}

    @check("built-in backbones (ONNX files in ONNX Runtime)")
    def _backbones():
        import numpy as np
        import onnxruntime

        from desktop.ml import shipped
        from desktop.ml.onnx_engine import INPUT_NAME, OUTPUT_NAME
        from desktop.ml.onnx_rules import MAX_BACKBONE_BYTES, check_onnx_model

        os.environ.pop(shipped.FOLDER_VARIABLE, None)  # the bundle's own folder, not one named from outside
        folder = shipped.shipped_folder()
        assert folder is not None and inside_bundle(folder), f"no shipped backbones in the bundle ({folder})"
        entries = shipped.shipped_backbones()
        files = sorted(path.name for path in folder.glob("*.onnx"))
        assert entries and sorted(entry.path.name for entry in entries.values()) == files, \
            f"the manifest names {sorted(entries)}; the folder holds {files}"
        ran = {}
        for name, entry in entries.items():
            data = shipped.read_shipped_onnx(entry, MAX_BACKBONE_BYTES)  # its bytes match the manifest's digest
            check_onnx_model(data, entry.path.name)  # the rules the app applies to any ONNX file it runs
            session = onnxruntime.InferenceSession(data, providers=["CPUExecutionProvider"])
            size = entry.input_size
            (features,) = session.run([OUTPUT_NAME], {INPUT_NAME: np.zeros((2, 3, size, size), np.float32)})
            assert features.shape == (2, entry.feature_dim) and np.isfinite(features).all(), features.shape
            ran[name] = {"mb": round(len(data) / 2**20, 1), "input_size": size, "features": entry.feature_dim}
        return {"folder": str(folder.relative_to(BUNDLE)), "onnxruntime": onnxruntime.__version__, "backbones": ran}


def main() -> int:
    if "--require-frozen" in sys.argv and not getattr(sys, "frozen", False):
        print("pigeonhole-bundle-check: not running from a frozen bundle", file=sys.stderr)
        return 2
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

    @check("frozen")
    def _frozen():
        return {"frozen": bool(getattr(sys, "frozen", False)), "bundle": str(BUNDLE), "python": sys.version.split()[0],
                "build": bundle_flavour()}

    @check("opencv")
    def _cv2():
        import cv2
        import numpy as np

        image = np.random.default_rng(0).integers(0, 255, (20, 30, 3), dtype=np.uint8)
        ok, png = cv2.imencode(".png", image)
        assert ok and (cv2.imdecode(png, cv2.IMREAD_COLOR) == image).all()
        return {"version": cv2.__version__}

    @check("photo formats (HEIC through libheif, camera RAW through LibRaw, AVIF through Pillow)")
    def _photo_formats():
        import base64
        import zlib

        import pi_heif
        import rawpy
        from PIL import features

        from desktop.io import images

        heic = images.decode(zlib.decompress(base64.b64decode(_TINY_HEIC)))
        dng = images.decode(zlib.decompress(base64.b64decode(_TINY_DNG)))
        assert heic.shape == (12, 16, 3) and dng.shape == (12, 16, 3), (heic.shape, dng.shape)
        assert features.check("avif"), "Pillow was built without AVIF"
        return {"libheif": pi_heif.libheif_info()["libheif"], "libraw": ".".join(map(str, rawpy.libraw_version))}

    @check("scipy: L-BFGS (the logistic regression's optimiser)")
    def _scipy():
        import numpy as np
        import scipy
        from scipy.optimize import minimize

        # A two-class logistic regression on separable points, as the frozen head's fit does it.
        x = np.array([[-2.0, -1.0], [-1.0, -2.0], [1.0, 2.0], [2.0, 1.0]])
        y = np.array([0.0, 0.0, 1.0, 1.0])

        def loss(w):
            z = x @ w[:2] + w[2]
            p = 1 / (1 + np.exp(-z))
            return float(np.sum(np.logaddexp(0, z) - y * z) + 0.05 * w[:2] @ w[:2]), \
                np.append(x.T @ (p - y) + 0.1 * w[:2], np.sum(p - y))

        result = minimize(loss, np.zeros(3), jac=True, method="L-BFGS-B")
        assert result.success and ((x @ result.x[:2] + result.x[2] > 0) == y.astype(bool)).all(), result
        return {"version": scipy.__version__, "iterations": int(result.nit)}

    @check("alembic migrations")
    def _migrations():
        from desktop.db import migrate

        head = migrate.head_revision()
        assert inside_bundle(migrate.MIGRATIONS_DIR), migrate.MIGRATIONS_DIR
        versions = sorted(p.name for p in (migrate.MIGRATIONS_DIR / "versions").glob("*.py"))
        assert versions, "no revision files"
        return {"head": head, "dir": str(Path(migrate.MIGRATIONS_DIR).relative_to(BUNDLE)), "revisions": len(versions)}

    @check("qt: svg icon, platform plug-ins")
    def _qt():
        from PySide6.QtCore import QLibraryInfo
        from PySide6.QtGui import QIcon
        from PySide6.QtWidgets import QApplication

        from desktop.resources import resource_path

        app = QApplication.instance() or QApplication([sys.argv[0]])
        icon = QIcon(str(resource_path("icons", "pigeonhole.svg")))
        assert not icon.pixmap(64, 64).isNull(), "the SVG window icon does not render (Qt SVG plug-ins missing)"
        plugins = Path(QLibraryInfo.path(QLibraryInfo.LibraryPath.PluginsPath))
        platforms = sorted(p.name for p in (plugins / "platforms").iterdir())
        if sys.platform.startswith("linux"):
            assert any("xcb" in name for name in platforms), platforms
        del app
        return {"platforms": platforms, "plugins_in_bundle": inside_bundle(plugins)}

    if bundle_flavour() == "full":
        torch_checks()
    else:
        cpu_checks()

    if sys.platform.startswith("linux"):
        @check("bundle contents: Qt plug-ins and system libraries as in the manifest")
        def _manifest():
            # packaging/linux/bundle_manifest.py, frozen in with this check: what the build machine must not change.
            import bundle_manifest

            plugins, libraries = bundle_manifest.bundle_contents(BUNDLE)
            problems = bundle_manifest.differences(plugins, libraries)
            assert not problems, "; ".join(problems)
            return {"qt_plugins": len(plugins), "system_libraries": sorted(libraries)}

        @check("libraries mapped from the bundle")
        def _maps():
            # Every shared object this process mapped (torch, Qt, OpenCV and the CUDA libraries they need).
            mapped = set()
            for line in Path("/proc/self/maps").read_text().splitlines():
                parts = line.split(maxsplit=5)
                if len(parts) == 6 and ".so" in parts[5]:
                    mapped.add(parts[5].replace(" (deleted)", ""))
            outside = sorted(path for path in mapped if not inside_bundle(path))
            heavy = re.compile(r"(cuda|cudnn|cublas|cufft|curand|cusolver|cusparse|nvrtc|nvjitlink|nccl|nvshmem|"
                               r"libtorch|libc10|libQt6|libshiboken|libpyside|libopencv|libavcodec|libgomp)", re.I)
            stray = [path for path in outside if heavy.search(Path(path).name)]
            assert not stray, f"loaded from outside the bundle: {stray}"
            cuda = sorted(Path(p).name for p in mapped if re.search(r"cudart|cublas|cudnn\.", Path(p).name))
            return {"mapped": len(mapped), "from_bundle": len(mapped) - len(outside), "cuda_libs": cuda,
                    "system": sorted({Path(p).name for p in outside})}

    passed = all(item["ok"] for item in CHECKS)
    print(json.dumps({"ok": passed, "checks": CHECKS}, indent=2, default=str))
    return 0 if passed else 1


if __name__ == "__main__":
    import multiprocessing

    multiprocessing.freeze_support()  # this executable is also the DataLoader workers' (see the check above)
    with tempfile.TemporaryDirectory(prefix="pigeonhole-bundle-check-") as home:
        os.environ.setdefault("TORCH_HOME", home)  # never read or write the user's torch hub cache
        sys.exit(main())
