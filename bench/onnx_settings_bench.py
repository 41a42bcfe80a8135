"""ONNX Runtime session settings for the CPU feature pass, against torch eager in the same run.

    nice python -m bench.onnx_settings_bench [--images 64] [--backbone efficientnet_lite0]

The forward pass only, on normalised crops already in memory (decoding is the same for both engines). For each
setting: images/s, and the speed-up over torch eager (channels-last, every core, what the app used before).

  threads     ONNX Runtime's intra-op threads (the app decodes a batch on every core, then computes on every
              core, so the two never overlap and each may take them all)
  batch       images per run
  opt         graph optimisation level (basic, extended, all)
  spinning    whether idle pool threads spin (they would take the cores from decoding between batches)

Also prints the export time of the extractor and the largest feature difference from torch.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import torch


def _rate(run, images: np.ndarray, batch: int) -> float:
    run(images[:batch])  # warm-up: allocations, kernel choice
    started = time.perf_counter()
    for start in range(0, len(images), batch):
        run(images[start:start + batch])
    return len(images) / (time.perf_counter() - started)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=64)
    parser.add_argument("--backbone", default="efficientnet_lite0")
    args = parser.parse_args(argv)

    import onnxruntime as ort

    from desktop.ml.backbones import build_feature_extractor, get_backbone, require_weights
    from desktop.ml.onnx_engine import INPUT_NAME, OUTPUT_NAME, export_extractor, session_options

    spec = get_backbone(args.backbone)
    extractor = build_feature_extractor(spec, require_weights(spec.name))[0].eval()
    rng = np.random.default_rng(0)
    images = rng.standard_normal((args.images, 3, spec.input_size, spec.input_size), dtype=np.float32)

    started = time.perf_counter()
    model = export_extractor(extractor, spec)
    export_seconds = time.perf_counter() - started
    with tempfile.TemporaryDirectory() as folder:
        Path(folder, "x.onnx").write_bytes(model)  # the size on disk
        size_mb = Path(folder, "x.onnx").stat().st_size / 1e6

    cores = os.cpu_count() or 1
    torch.set_num_threads(cores)
    extractor = extractor.to(memory_format=torch.channels_last)

    def torch_run(batch: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            return extractor(torch.from_numpy(batch).contiguous(memory_format=torch.channels_last)).numpy()

    torch_rate = _rate(torch_run, images, 32)
    print(f"{spec.display_name}, {args.images} crops of {spec.input_size} px, {cores} CPUs")
    print(f"export {export_seconds:.2f} s, {size_mb:.1f} MB")
    print(f"torch eager, channels-last, batch 32, {cores} threads: {torch_rate:6.1f} images/s")

    def session(threads: int, level: str, spinning: bool):
        options = session_options(threads, level=level, spinning=spinning)
        onnx_session = ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])
        return lambda batch: onnx_session.run([OUTPUT_NAME], {INPUT_NAME: batch})[0]  # features only, no map

    default = session(cores, "all", False)
    gap = np.abs(default(images[:8]) - torch_run(images[:8])).max()
    print(f"largest feature difference from torch: {gap:.2e}")
    rows = [(threads, 16, "all", False) for threads in sorted({1, cores})]
    rows += [(cores, batch, "all", False) for batch in (1, 8, 32)]
    rows += [(cores, 16, level, False) for level in ("basic", "extended")]
    rows += [(cores, 16, "all", True)]
    print(f"{'threads':>7} {'batch':>5} {'opt':>8} {'spin':>5} {'images/s':>9} {'vs torch':>9}")
    for threads, batch, level, spinning in rows:
        rate = _rate(session(threads, level, spinning), images, batch)
        print(f"{threads:>7} {batch:>5} {level:>8} {'yes' if spinning else 'no':>5} {rate:9.1f} "
              f"{rate / torch_rate:8.2f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
