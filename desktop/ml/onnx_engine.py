"""CPU inference through ONNX Runtime: a pretrained backbone's feature extractor, shipped with the package or
exported once and cached.

Wherever the network only runs forward on the CPU (features for frozen training, prediction, duplicates,
label checks, the self-test) ONNX Runtime computes the same features as torch's eager mode several times
faster (bench/README.md, "Engine"). torch stays for fine-tuning, for fine-tuned backbones and for CUDA/MPS.

The exported file takes the normalised crop (float32 N, 3, H, W), exactly what the torch extractor takes,
and gives the pooled features (N, D); the preprocessing stays in ``preprocess``, shared by both builds. Where the
features are the spatial mean of a map (every built-in backbone), it also gives that map for heatmaps
(``MAP_NAME``, any H and W: ``frozen_cam``).

Shipped: the built-in backbones come as ONNX files with the package (``shipped``: made when it is built). A
shipped file of exactly these weights is used first, when the digest of its bytes matches the installation's
manifest and it passes ``onnx_rules``; it is never exported over. The CPU build (no torch) has only these, and
files a full build exported earlier on this computer: ``require_onnx_extractor`` raises ``FeaturesUnavailable``
(one sentence) where neither can run.

Cache: one ``.onnx`` per (backbone, weights content digest, crop size, exporter version) in the per-user cache
folder (``desktop.paths.cache_dir()``), shared by every project, written atomically under a cross-process lock.
A cached file is an executable of sorts, and whoever can write the cache could put any graph there (a constant
one that puts every photo in one class, a Loop that never ends), with any digest it likes inside. So a file is
run only when the digest of its bytes matches a reference kept elsewhere: the record of what this computer
exported, ``trusted-onnx.json`` in the data folder (``desktop.paths.data_dir()``), or, within one process, what
it exported or checked itself. A file that does not match (damaged, replaced, or exported where the record
could not be written, or before the data folder existed) is exported again. Every file, new or cached, also
passes the rules for any ONNX file (``onnx_rules``: standard operators, no control flow, data inside, a size
cap). Exporting EfficientNet-Lite0 takes about a second (bench/onnx_settings_bench.py), announced by a Notice.

A run happens in a thread of its own while the calling thread waits in Python: Ctrl+C (a KeyboardInterrupt,
only ever delivered to Python code) and a cancel both terminate ONNX Runtime inside the graph.

With torch, nothing here raises for ONNX trouble: ``load_onnx_extractor`` returns None (and says why through a
Notice), and the caller computes with torch. ``PIGEONHOLE_NO_ONNX=1`` in the environment chooses torch throughout
(where there is torch). torch is imported only to export.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import threading
import warnings
from collections.abc import Callable
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from desktop.errors import PigeonholeError
from desktop.io.files import FileReadError, read_regular_file
from desktop.io.locks import exclusive_lock
from desktop.io.safe_files import atomic_write
from desktop.ml.backbones import BackboneSpec
from desktop.ml.onnx_rules import CONTROL_FLOW, MAX_BACKBONE_BYTES, UnsafeOnnx, check_onnx_model
from desktop.ml.shipped import ShippedBackbone, ShippedFileDamaged, read_shipped_onnx, shipped_backbone
from desktop.progress import Cancelled, CancelToken, Notice, ProgressCallback, check_cancel, emit

if TYPE_CHECKING:
    from torch import nn

# Bumped whenever the exported graph changes (opset, export settings), so older files are not reused.
# 2: any height and width, and the spatial map for heatmaps (MAP_NAME, MAP_SLOPE_NAME).
EXPORTER_VERSION = 2
OPSET = 17
INPUT_NAME, OUTPUT_NAME = "images", "features"
# Heatmaps of frozen models (``frozen_cam``): the last block's map (N, K, h, w), the one Grad-CAM hooks, and per
# channel the share of its positions where the map passes unchanged into the pooled one (N, K): the slope of the
# activation between them (ReLU6 for EfficientNet-Lite, none for most), so Grad-CAM needs no gradients.
MAP_NAME, MAP_SLOPE_NAME = "feature_map", "map_slope"
DIGEST_KEY = "pigeonhole.graph_blake2b"  # kept in the file for tools; never trusted (the file could forge it)
TRUST_RECORD = "trusted-onnx.json"  # in the data folder: cached file path → blake2b of the bytes exported there
MAX_RECORD_BYTES = 1 << 20
EXPORT_WAIT_S = 300.0  # another process exporting the same file: wait for it rather than export twice
# Largest agreement gap allowed between ONNX Runtime's and torch's features (tests/ml/test_onnx_engine.py): well
# below what changes a prediction, so both engines share one feature cache key.
FEATURE_TOLERANCE = 1e-4
CANCEL_POLL_S = 0.05
DISABLE_VARIABLE = "PIGEONHOLE_NO_ONNX"  # set (to anything) to compute every forward pass with torch


class OnnxUnavailable(Exception):
    """ONNX Runtime cannot compute this backbone here; the message says why (for a Notice)."""


class FeaturesUnavailable(PigeonholeError):
    """Without torch, ONNX Runtime cannot compute this backbone's features here; ``str(error)`` says why."""


def cache_folder() -> Path:
    from desktop.paths import cache_dir

    return cache_dir() / "onnx"


def onnx_file(spec: BackboneSpec, weights_identity: str, folder: Path | None = None) -> Path:
    """Where the exported extractor of ``spec`` with these weights lives."""
    material = json.dumps({"exporter": EXPORTER_VERSION, "opset": OPSET, "backbone": spec.name,
                           "weights": weights_identity, "input_size": spec.input_size}, sort_keys=True)
    digest = hashlib.blake2b(material.encode(), digest_size=10).hexdigest()
    return (folder or cache_folder()) / f"{spec.name}-{digest}.onnx"


def session_options(threads: int | None = None, *, level: str = "all", spinning: bool = False):
    """Measured in bench/onnx_settings_bench.py: every core for one session's operators, full graph
    optimisation, and no spinning (idle threads would steal the cores from the decoding between batches)."""
    import onnxruntime as ort

    levels = {"basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
              "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
              "all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL}
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads or os.cpu_count() or 1
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = levels[level]
    options.add_session_config_entry("session.intra_op.allow_spinning", "1" if spinning else "0")
    options.log_severity_level = 3  # errors only: its warnings are not for our users
    return options


class OnnxExtractor:
    """An exported feature extractor in an ONNX Runtime session: float32 (N, 3, H, W) → (N, D)."""

    def __init__(self, path: Path, model_bytes: bytes, threads: int | None = None) -> None:
        import onnxruntime as ort

        self.path = path
        self.session = ort.InferenceSession(model_bytes, session_options(threads),
                                            providers=["CPUExecutionProvider"])
        self._lock = threading.Lock()  # one run at a time per session; callers do not share one anyway

    def __call__(self, images: np.ndarray, cancel: CancelToken | None = None) -> np.ndarray:
        """Features of ``images``. The graph runs in a thread while this one waits in Python, so a cancel (raises
        Cancelled) and Ctrl+C (KeyboardInterrupt) both tell ONNX Runtime to terminate inside the graph: there
        are no hooks between blocks as in torch, and native code never sees a signal."""
        return self.outputs([OUTPUT_NAME], images, cancel)[0]

    @property
    def has_map(self) -> bool:
        """Whether the file gives the spatial map for heatmaps (exported by this version, features pooled)."""
        return {MAP_NAME, MAP_SLOPE_NAME} <= {output.name for output in self.session.get_outputs()}

    def outputs(self, names: list[str], images: np.ndarray, cancel: CancelToken | None = None) -> list[np.ndarray]:
        """The graph's outputs ``names`` for ``images``, run as ``__call__`` runs it."""
        import onnxruntime as ort

        options = ort.RunOptions()
        options.log_severity_level = 4  # fatal only: a terminated run is logged as an error, on the user's terminal
        outcome: Future = Future()
        feed = {INPUT_NAME: np.ascontiguousarray(images, np.float32)}

        def run() -> None:
            try:
                outcome.set_result(self.session.run(names, feed, options))
            except BaseException as exc:
                outcome.set_exception(exc)

        with self._lock:
            worker = threading.Thread(target=run, name="onnx-run", daemon=True)
            worker.start()
            try:
                while True:
                    try:
                        return outcome.result(timeout=CANCEL_POLL_S)
                    except FutureTimeout:
                        if cancel is not None and cancel.is_set():
                            options.terminate = True
                    except Exception:
                        if cancel is not None and cancel.is_set():
                            raise Cancelled() from None
                        raise
            except BaseException:  # KeyboardInterrupt (or a cancel): stop the graph, then let it through
                options.terminate = True
                worker.join(timeout=1.0)
                raise


def export_extractor(extractor: nn.Module, spec: BackboneSpec) -> bytes:
    """The ONNX model (bytes) of ``extractor`` with a dynamic batch size, height and width, the graph digest in
    its metadata, and the map outputs for heatmaps where ``map_outputs`` finds them."""
    import onnx
    import torch

    module = extractor.eval().to(memory_format=torch.contiguous_format)
    example = torch.zeros(2, 3, spec.input_size, spec.input_size)
    with_map = map_outputs(module, spec)
    names = [OUTPUT_NAME, MAP_NAME, MAP_SLOPE_NAME] if with_map is not None else [OUTPUT_NAME]
    axes = {INPUT_NAME: {0: "batch"}, OUTPUT_NAME: {0: "batch"}}
    if with_map is not None:  # a network that took a non-square probe: any height and width, for heatmaps
        axes = {INPUT_NAME: {0: "batch", 2: "height", 3: "width"}, OUTPUT_NAME: {0: "batch"},
                MAP_NAME: {0: "batch", 2: "map_height", 3: "map_width"}, MAP_SLOPE_NAME: {0: "batch"}}
    buffer = io.BytesIO()
    # The TorchScript-based exporter: about a second for EfficientNet-Lite0, where torch.export's takes over a
    # minute; the network is convolutions and a global mean, which tracing captures exactly at any size.
    with warnings.catch_warnings(), torch.no_grad(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        torch.onnx.export(with_map or module, (example,), buffer, dynamo=False, opset_version=OPSET,
                          input_names=[INPUT_NAME], output_names=names, do_constant_folding=True,
                          dynamic_axes=axes)
    proto = onnx.load_from_string(buffer.getvalue())
    onnx.helper.set_model_props(proto, {DIGEST_KEY: _graph_digest(proto),
                                        "pigeonhole.backbone": spec.name})
    return proto.SerializeToString()


def map_outputs(extractor: nn.Module, spec: BackboneSpec) -> nn.Module | None:
    """``extractor`` giving also its last block's map and that map's slope into the pooled one (``MAP_NAME``,
    ``MAP_SLOPE_NAME``); None where its features are not the spatial mean of a map (e.g. a norm after the pool,
    a functional pool), checked on a random image: there a heatmap needs torch's Grad-CAM."""
    import torch
    from torch import nn

    from desktop.ml.backbones import backbone_units

    pools = [m for m in extractor.modules() if isinstance(m, nn.AdaptiveAvgPool2d) and m.output_size in (1, (1, 1))]
    if not pools:
        return None
    last_unit, pool = backbone_units(spec, extractor)[-1], pools[-1]

    class WithMap(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.extractor = extractor

        def run(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
            """Features, the last block's map and the map the pool averages."""
            seen: dict[str, torch.Tensor] = {}
            hooks = [last_unit.register_forward_hook(lambda _m, _i, out: seen.__setitem__("map", out)),
                     pool.register_forward_hook(lambda _m, inputs, _o: seen.__setitem__("pooled", inputs[0]))]
            try:
                features = self.extractor(images)
            finally:
                for hook in hooks:
                    hook.remove()
            return features, seen["map"], seen["pooled"]

        def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
            features, feature_map, pooled = self.run(images)
            # Where the pooled map is the block's map, the activation between them passes the gradient (slope 1:
            # ReLU6 inside its range, or no activation at all); elsewhere it is flat (slope 0).
            return features, feature_map, (pooled == feature_map).float().mean(dim=(2, 3))

    wrapped = WithMap().eval()
    probe = torch.randn(1, 3, spec.input_size + 32, spec.input_size, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        try:
            features, feature_map, pooled = wrapped.run(probe)
        except Exception:  # a hook did not run (KeyError), or the network takes only its own square size
            return None
    if feature_map.dim() != 4 or pooled.shape != feature_map.shape or feature_map.shape[1] > features.shape[1]:
        return None
    if not torch.allclose(features[:, -feature_map.shape[1]:], pooled.mean(dim=(2, 3)), atol=1e-5, rtol=1e-4):
        return None  # the features are more than the pooled map (a norm or a projection after the pool)
    return wrapped


def _graph_digest(proto) -> str:
    return hashlib.blake2b(proto.graph.SerializeToString(), digest_size=16).hexdigest()


def _digest(data: bytes) -> str:
    return hashlib.blake2b(data, digest_size=32).hexdigest()


# What this process exported or verified: file → digest of its bytes (a file replaced since no longer matches).
_trusted: dict[Path, str] = {}


def _trust_record() -> Path:
    from desktop.paths import data_dir

    return data_dir() / TRUST_RECORD


def _recorded_digests() -> dict[str, str]:
    try:
        recorded = json.loads(read_regular_file(_trust_record(), MAX_RECORD_BYTES))
    except (FileReadError, ValueError):
        return {}
    return {k: v for k, v in recorded.items() if isinstance(v, str)} if isinstance(recorded, dict) else {}


def _remember(path: Path, data: bytes) -> None:
    """Trust ``data`` at ``path`` from now on: in this process, and in the data folder's record for later ones
    (best effort: where it cannot be written, a later process exports again). The data folder is not created
    for it: `--self-test` and a command that only reads leave no trace there."""
    digest = _digest(data)
    _trusted[path] = digest
    record = _trust_record()
    if not record.parent.is_dir():
        return
    try:
        with exclusive_lock(record.with_suffix(".lock"), "Another Pigeonhole is recording an export.", wait_s=30.0):
            digests = _recorded_digests()
            digests[str(path)] = digest
            payload = json.dumps(digests, indent=1, sort_keys=True).encode("ascii")
            atomic_write(record, lambda handle: handle.write(payload))
    except (OSError, PigeonholeError):
        pass


def _trusted_bytes(path: Path) -> bytes | None:
    """The cached file's bytes when this computer exported exactly these bytes there (``_remember``) and they
    pass the rules for any ONNX file; None otherwise (missing, damaged, or put there by someone else)."""
    try:
        data = read_regular_file(path, MAX_BACKBONE_BYTES)  # a pipe or a 20 GB file in the cache: refused
    except FileReadError:
        return None
    digest = _digest(data)
    if _trusted.get(path) != digest and _recorded_digests().get(str(path)) != digest:
        return None
    try:
        check_onnx_model(data, path.name, refused_ops=CONTROL_FLOW)
    except UnsafeOnnx:
        return None
    _trusted[path] = digest
    return data


def load_onnx_extractor(spec: BackboneSpec, weights_identity: str, extractor: nn.Module | Callable[[], nn.Module],
                        *, folder: Path | None = None, on_progress: ProgressCallback | None = None,
                        cancel: CancelToken | None = None, threads: int | None = None) -> OnnxExtractor | None:
    """The cached ONNX extractor for these pretrained weights, exported from ``extractor`` (a module or a function
    building it) the first time; None when ONNX Runtime cannot be used, after a Notice saying why.

    A cancel during the export raises Cancelled at once; the export finishes in the background for next time."""
    if os.environ.get(DISABLE_VARIABLE):
        return None  # asked for torch (benchmarks compare the engines; an escape hatch for a misbehaving runtime)
    key = (spec.name, weights_identity, folder)
    if key in _failed:
        return None  # said once; prediction's next chunk should not export (and fail) again
    try:
        return _load_or_export(spec, weights_identity, extractor, folder, on_progress, cancel, threads)
    except Cancelled:
        raise
    except Exception as exc:  # any ONNX trouble: torch computes the same features, only slower
        _failed.add(key)
        reason = str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
        emit(on_progress, Notice(f"Fast CPU inference is unavailable ({reason}); computing with PyTorch."))
        return None


_failed: set[tuple[str, str, Path | None]] = set()


def require_onnx_extractor(spec: BackboneSpec, weights_identity: str | None, *, folder: Path | None = None,
                           on_progress: ProgressCallback | None = None, cancel: CancelToken | None = None,
                           threads: int | None = None) -> OnnxExtractor:
    """The ONNX extractor of these pretrained weights with no torch to export or fall back on: the shipped file,
    or one this computer exported earlier. FeaturesUnavailable (one sentence) where neither can run."""
    if weights_identity is None:
        from desktop.ml.builds import full_build_required

        raise full_build_required(f"Computing the features of a fine-tuned {spec.display_name}")
    try:
        return _load_or_export(spec, weights_identity, None, folder, on_progress, cancel, threads)
    except (Cancelled, FeaturesUnavailable):
        raise
    except PigeonholeError as exc:  # a damaged shipped file, a refused graph: their own sentence
        raise FeaturesUnavailable(str(exc)) from exc
    except Exception as exc:
        reason = str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
        raise FeaturesUnavailable(f"The features of {spec.display_name} cannot be computed on this computer "
                                  f"({reason}).") from exc


def backbone_onnx_bytes(spec: BackboneSpec, weights_identity: str,
                        extractor: nn.Module | Callable[[], nn.Module] | None = None) -> bytes:
    """The ONNX file of these pretrained weights, as checked bytes (for building other graphs on it: a frozen
    model's export): the shipped file, else the one exported on this computer, exported first where ``extractor``
    (torch) is given. FeaturesUnavailable (one sentence) where there is none."""
    shipped = _shipped_entry(spec, weights_identity)
    if shipped is not None:
        return _shipped_bytes(shipped)
    if extractor is None:
        require_onnx_extractor(spec, weights_identity)
    elif load_onnx_extractor(spec, weights_identity, extractor) is None:
        raise FeaturesUnavailable(f"{spec.display_name} could not be converted to ONNX on this computer.")
    data = _trusted_bytes(onnx_file(spec, weights_identity))
    if data is None:  # replaced since it was checked
        raise FeaturesUnavailable(f"The ONNX file of {spec.display_name} changed while it was being read: "
                                  "try again.")
    return data


# Sessions already open in this process, by file: prediction runs in chunks, and each would otherwise verify and
# load the file again. An entry is used only while the file on disk is the one it was loaded from.
_open_sessions: dict[tuple[Path, int | None], tuple[tuple[int, int], OnnxExtractor]] = {}
# Loads (imports, checks, exports, session) running in this process, by file: a job cancelled while waiting leaves
# its load running, and the next job waits for that one instead of starting another.
_loads: dict[tuple[Path, int | None], Future] = {}
_loads_lock = threading.Lock()


def _file_signature(path: Path) -> tuple[int, int] | None:
    try:
        stat = path.stat()
    except OSError:
        return None
    return stat.st_size, stat.st_mtime_ns


def _load_or_export(spec: BackboneSpec, weights_identity: str,
                    extractor: nn.Module | Callable[[], nn.Module] | None, folder: Path | None,
                    on_progress: ProgressCallback | None, cancel: CancelToken | None,
                    threads: int | None) -> OnnxExtractor:
    shipped = _shipped_entry(spec, weights_identity) if folder is None else None
    path = shipped.path if shipped is not None else onnx_file(spec, weights_identity, folder)
    known = _open_sessions.get((path, threads))
    if known is not None and known[0] == _file_signature(path):
        return known[1]
    if shipped is None and extractor is not None and not path.is_file():
        # A Notice, not a Progress: prediction counts every Progress of its phase as photos done.
        emit(on_progress, Notice(f"Preparing {spec.display_name} for fast CPU inference (once on this computer)…"))
    # In a thread of its own, so that a cancel lands at once even while the first imports of onnx and
    # onnxruntime, the export or the session's graph optimisation run (seconds on a busy laptop, none of it
    # interruptible); a cancelled load finishes anyway, for the next job.
    load = _start_load(spec, extractor, path, threads, shipped)
    while True:
        try:
            return load.result(timeout=CANCEL_POLL_S)
        except FutureTimeout:
            check_cancel(cancel)


def _shipped_entry(spec: BackboneSpec, weights_identity: str) -> ShippedBackbone | None:
    """The installation's ONNX file of exactly these weights, made by this exporter, if it ships one."""
    entry = shipped_backbone(spec.name)
    if entry is None or (entry.weights_identity, entry.input_size, entry.exporter_version, entry.opset) != (
            weights_identity, spec.input_size, EXPORTER_VERSION, OPSET):
        return None
    return entry


def _start_load(spec: BackboneSpec, extractor: nn.Module | Callable[[], nn.Module] | None, path: Path,
                threads: int | None, shipped: ShippedBackbone | None = None) -> Future:
    """The OnnxExtractor of ``path`` (exported first when missing or damaged), loading in a thread; or the load
    already running. Not a daemon thread: quitting waits for it rather than kill it inside native code."""
    with _loads_lock:
        running = _loads.get((path, threads))
        if running is not None and not running.done():
            return running
        future: Future = Future()
        _loads[(path, threads)] = future

    def work() -> None:
        try:
            future.set_result(_load(spec, extractor, path, threads, shipped))
        except BaseException as exc:
            future.set_exception(exc)

    threading.Thread(target=work, name="onnx-load").start()
    return future


def _load(spec: BackboneSpec, extractor: nn.Module | Callable[[], nn.Module] | None, path: Path,
          threads: int | None, shipped: ShippedBackbone | None = None) -> OnnxExtractor:
    try:
        import onnxruntime  # noqa: F401
    except ImportError as exc:
        raise OnnxUnavailable("onnxruntime is not installed") from exc
    if shipped is not None:
        return _open(path, _shipped_bytes(shipped), threads)
    data = _trusted_bytes(path)
    if data is None and extractor is None:
        raise FeaturesUnavailable(f"{spec.display_name} has no built-in ONNX file in this installation of "
                                  "Pigeonhole, and this build cannot make one (it has no PyTorch): reinstall "
                                  "Pigeonhole.")
    if data is None:
        path.parent.mkdir(parents=True, exist_ok=True)
        with exclusive_lock(path.with_suffix(".lock"), f"Another Pigeonhole is preparing {spec.display_name}.",
                            wait_s=EXPORT_WAIT_S):
            data = _trusted_bytes(path)  # another process may have finished it while we waited
            if data is None:
                from torch import nn

                module = extractor if isinstance(extractor, nn.Module) else extractor()
                data = export_extractor(module, spec)
                # Our own export obeys the rules too (UnsafeOnnx here: torch computes instead).
                check_onnx_model(data, path.name, refused_ops=CONTROL_FLOW)
                atomic_write(path, lambda handle: handle.write(data))
                _remember(path, data)
    return _open(path, data, threads)


def _shipped_bytes(entry: ShippedBackbone) -> bytes:
    """A shipped file's bytes, when they are the ones installed (the manifest's digest) and pass the rules."""
    data = read_shipped_onnx(entry, MAX_BACKBONE_BYTES)
    try:
        check_onnx_model(data, entry.path.name, refused_ops=CONTROL_FLOW)
    except UnsafeOnnx as exc:
        raise ShippedFileDamaged(f"The built-in file of {entry.name} was refused: {exc}") from exc
    return data


def _open(path: Path, data: bytes, threads: int | None) -> OnnxExtractor:
    """A session of ``data`` (trusted, checked), remembered for ``path`` while the file stays as it is."""
    loaded = OnnxExtractor(path, data, threads)
    signature = _file_signature(path)
    if signature is not None:
        _open_sessions[(path, threads)] = (signature, loaded)
    return loaded
