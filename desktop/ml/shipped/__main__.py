"""``python -m desktop.ml.shipped FOLDER [NAME ...]``: the built-in backbones exported to ONNX for shipping with
the package (the layout and the rules are in ``desktop.ml.shipped``). Run where torch and the weights packages
are installed (the full build's environment), when the package is built; NAMEs default to every built-in
backbone whose weights are installed (EfficientNet-Lite0, the accurate feature set, Lite1, Lite2)."""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from pathlib import Path

from desktop.errors import PigeonholeError
from desktop.io.safe_files import atomic_write
from desktop.ml.shipped import MANIFEST, MANIFEST_FORMAT, onnx_digest


def built_in_backbones() -> list[str]:
    """The backbones whose weights come with Pigeonhole (no download), in the registry's order."""
    from desktop.ml.backbones import available_backbones, weights_status

    return [spec.name for spec in available_backbones()
            if spec.bundled_weights is not None and weights_status(spec.name).available]


def export_shipped(folder: Path, names: Sequence[str] | None = None) -> dict[str, dict]:
    """Export ``names`` (default: the built-in backbones) into ``folder`` with the manifest; its entries."""
    from desktop.ml.backbones import build_feature_extractor, get_backbone, pretrained_weights
    from desktop.ml.builds import require_torch
    from desktop.ml.onnx_engine import EXPORTER_VERSION, OPSET, export_extractor
    from desktop.ml.onnx_rules import CONTROL_FLOW, check_onnx_model

    require_torch("Making the shipped backbones")
    folder.mkdir(parents=True, exist_ok=True)
    entries: dict[str, dict] = {}
    for name in names or built_in_backbones():
        spec = get_backbone(name)
        weights = pretrained_weights(spec.name)
        extractor, feature_dim = build_feature_extractor(spec, weights.path)
        data = export_extractor(extractor, spec)
        check_onnx_model(data, f"{spec.name}.onnx", refused_ops=CONTROL_FLOW)
        atomic_write(folder / f"{spec.name}.onnx", lambda handle, data=data: handle.write(data))
        entries[spec.name] = {"file": f"{spec.name}.onnx", "weights_identity": weights.identity,
                              "weights_file": weights.file, "source": weights.source, "feature_dim": feature_dim,
                              "input_size": spec.input_size, "onnx_blake2b": onnx_digest(data)}
    manifest = {"format": MANIFEST_FORMAT, "exporter_version": EXPORTER_VERSION, "opset": OPSET,
                "backbones": entries}
    payload = (json.dumps(manifest, indent=1, sort_keys=True) + "\n").encode()
    atomic_write(folder / MANIFEST, lambda handle: handle.write(payload))
    return entries


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0].startswith("-"):
        print(__doc__.strip(), file=sys.stderr)
        return 2
    try:
        entries = export_shipped(Path(args[0]), args[1:] or None)
    except PigeonholeError as exc:
        print(f"shipped: {exc}", file=sys.stderr)
        return 1
    for name, entry in entries.items():
        size = (Path(args[0]) / entry["file"]).stat().st_size
        print(f"{name}: {entry['file']} ({size / 1e6:.1f} MB, {entry['feature_dim']} features)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
