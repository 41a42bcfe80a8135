"""CPU inference through ONNX Runtime: a pretrained backbone's feature extractor, exported once and cached.

Wherever the network only runs forward on the CPU (features for frozen training, prediction, duplicates,
label checks, the self-test) ONNX Runtime computes the same features as torch's eager mode several times
faster (bench/README.md, "Engine"). torch stays for fine-tuning, for fine-tuned backbones and for CUDA/MPS.

The exported file takes the normalised crop (float32 N, 3, H, W), exactly what the torch extractor takes,
and gives the pooled features (N, D); the preprocessing stays in ``transforms``, shared with torch.

Cache: one ``.onnx`` per (backbone, weights content digest, crop size, exporter version) in the per-user cache
folder (``desktop.paths.cache_dir()``), shared by every project. It is written atomically under a
cross-process lock, and carries a digest of its graph in its metadata, so a damaged file (truncated, bit rot,
replaced) is noticed when it is opened and exported again. Exporting EfficientNet-Lite0 takes about a second
(bench/onnx_settings_bench.py), announced by a Notice.

Nothing here raises for ONNX trouble: ``load_onnx_extractor`` returns None (and says why through a Notice),
and the caller computes with torch. ``PIGEONHOLE_NO_ONNX=1`` in the environment chooses torch throughout.
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

import numpy as np
import torch
from torch import nn

from desktop.io.locks import exclusive_lock
from desktop.io.safe_files import atomic_write
from desktop.ml.backbones import BackboneSpec
from desktop.ml.progress import Cancelled, CancelToken, Notice, ProgressCallback, check_cancel, emit

# Bumped whenever the exported graph changes (opset, export settings), so older files are not reused.
EXPORTER_VERSION = 1
OPSET = 17
INPUT_NAME, OUTPUT_NAME = "images", "features"
DIGEST_KEY = "pigeonhole.graph_blake2b"
EXPORT_WAIT_S = 300.0  # another process exporting the same file: wait for it rather than export twice
# Largest agreement gap allowed between ONNX Runtime's and torch's features (tests/ml/test_onnx_engine.py): well
# below what changes a prediction, so both engines share one feature cache key.
FEATURE_TOLERANCE = 1e-4
CANCEL_POLL_S = 0.05
DISABLE_VARIABLE = "PIGEONHOLE_NO_ONNX"  # set (to anything) to compute every forward pass with torch


class OnnxUnavailable(Exception):
    """ONNX Runtime cannot compute this backbone here; the message says why (for a Notice)."""


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
        """Features of ``images``; a cancel set meanwhile stops the run inside the graph and raises Cancelled
        (there are no hooks between blocks as in torch: a watcher thread tells ONNX Runtime to terminate)."""
        import onnxruntime as ort

        options = ort.RunOptions()
        finished = threading.Event()

        def watch() -> None:
            while not finished.wait(CANCEL_POLL_S):
                if cancel.is_set():
                    options.terminate = True
                    return

        watcher = threading.Thread(target=watch, name="onnx-cancel", daemon=True) if cancel is not None else None
        with self._lock:
            if watcher is not None:
                watcher.start()
            try:
                return self.session.run([OUTPUT_NAME], {INPUT_NAME: np.ascontiguousarray(images, np.float32)},
                                        options)[0]
            except Exception:
                if cancel is not None and cancel.is_set():
                    raise Cancelled() from None
                raise
            finally:
                finished.set()
                if watcher is not None:
                    watcher.join()


def export_extractor(extractor: nn.Module, spec: BackboneSpec) -> bytes:
    """The ONNX model (bytes) of ``extractor`` with a dynamic batch size and the graph digest in its metadata."""
    import onnx

    module = extractor.eval().to(memory_format=torch.contiguous_format)
    example = torch.zeros(2, 3, spec.input_size, spec.input_size)
    buffer = io.BytesIO()
    # The TorchScript-based exporter: about a second for EfficientNet-Lite0, where torch.export's takes over a
    # minute; the network is a fixed-size crop in, a vector out, which tracing captures exactly.
    with warnings.catch_warnings(), torch.no_grad(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        torch.onnx.export(module, (example,), buffer, dynamo=False, opset_version=OPSET,
                          input_names=[INPUT_NAME], output_names=[OUTPUT_NAME], do_constant_folding=True,
                          dynamic_axes={INPUT_NAME: {0: "batch"}, OUTPUT_NAME: {0: "batch"}})
    proto = onnx.load_from_string(buffer.getvalue())
    onnx.helper.set_model_props(proto, {DIGEST_KEY: _graph_digest(proto),
                                        "pigeonhole.backbone": spec.name})
    return proto.SerializeToString()


def _graph_digest(proto) -> str:
    return hashlib.blake2b(proto.graph.SerializeToString(), digest_size=16).hexdigest()


def _verified_bytes(path: Path) -> bytes | None:
    """The file's contents if it is a whole, undamaged export (its graph matches the digest it carries)."""
    import onnx

    try:
        data = path.read_bytes()
        proto = onnx.load_from_string(data)
    except FileNotFoundError:
        return None
    except Exception:  # truncated or not protobuf at all
        return None
    recorded = {prop.key: prop.value for prop in proto.metadata_props}.get(DIGEST_KEY)
    return data if recorded is not None and recorded == _graph_digest(proto) else None


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


def _load_or_export(spec: BackboneSpec, weights_identity: str, extractor: nn.Module | Callable[[], nn.Module],
                    folder: Path | None, on_progress: ProgressCallback | None, cancel: CancelToken | None,
                    threads: int | None) -> OnnxExtractor:
    path = onnx_file(spec, weights_identity, folder)
    known = _open_sessions.get((path, threads))
    if known is not None and known[0] == _file_signature(path):
        return known[1]
    if not path.is_file():
        # A Notice, not a Progress: prediction counts every Progress of its phase as photos done.
        emit(on_progress, Notice(f"Preparing {spec.display_name} for fast CPU inference (once on this computer)…"))
    # In a thread of its own, so that a cancel lands at once even while the first imports of onnx and
    # onnxruntime, the export or the session's graph optimisation run (seconds on a busy laptop, none of it
    # interruptible); a cancelled load finishes anyway, for the next job.
    load = _start_load(spec, extractor, path, threads)
    while True:
        try:
            return load.result(timeout=CANCEL_POLL_S)
        except FutureTimeout:
            check_cancel(cancel)


def _start_load(spec: BackboneSpec, extractor: nn.Module | Callable[[], nn.Module], path: Path,
                threads: int | None) -> Future:
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
            future.set_result(_load(spec, extractor, path, threads))
        except BaseException as exc:
            future.set_exception(exc)

    threading.Thread(target=work, name="onnx-load").start()
    return future


def _load(spec: BackboneSpec, extractor: nn.Module | Callable[[], nn.Module], path: Path,
          threads: int | None) -> OnnxExtractor:
    try:
        import onnxruntime  # noqa: F401
    except ImportError as exc:
        raise OnnxUnavailable("onnxruntime is not installed") from exc
    data = _verified_bytes(path)
    if data is None:
        path.parent.mkdir(parents=True, exist_ok=True)
        with exclusive_lock(path.with_suffix(".lock"), f"Another Pigeonhole is preparing {spec.display_name}.",
                            wait_s=EXPORT_WAIT_S):
            data = _verified_bytes(path)  # another process may have finished it while we waited
            if data is None:
                module = extractor if isinstance(extractor, nn.Module) else extractor()
                data = export_extractor(module, spec)
                atomic_write(path, lambda handle: handle.write(data))
    loaded = OnnxExtractor(path, data, threads)
    signature = _file_signature(path)
    if signature is not None:
        _open_sessions[(path, threads)] = (signature, loaded)
    return loaded
