"""Class probabilities for images, from a saved model.

Prediction runs the backbone and then the head, through the same batched feature extraction as training
(on a GPU, decoding in DataLoader workers overlaps the forward pass; on a CPU, each batch is decoded on every
core, then computed on every core: see ``data.make_inference_batches``). A model trained in frozen mode has the
pretrained backbone (its file holds only the head, and names the weights the backbone is built from), so its
features can come from, and go to, the training feature cache, and on a CPU they are computed by the backbone's
cached ONNX export in ONNX Runtime (``onnx_engine``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from desktop.errors import PigeonholeError
from desktop.ml.backbones import (
    BackboneSpec,
    WeightsError,
    build_feature_extractor,
    get_backbone,
    require_weights,
    weights_identity,
)
from desktop.ml.checkpoint import CheckpointError, load_checkpoint, validate_checkpoint
from desktop.ml.device import autocast_for, resolve_device, use_channels_last_for_inference
from desktop.ml.features import ORIGINAL, FeatureCache, extract_features
from desktop.ml.model import Classifier, LinearHead
from desktop.ml.progress import PHASE_PREDICTING, CancelToken, ProgressCallback
from desktop.ml.transforms import eval_transform


class NonFiniteScores(PigeonholeError):
    """The model computed NaN or infinite scores: the model is broken (not the photo), so nothing is kept."""


def require_finite(probabilities: np.ndarray, model: str = "The model") -> np.ndarray:
    """``probabilities`` when every value is a number; else NonFiniteScores, said once for the whole batch."""
    bad = int((~np.isfinite(probabilities)).any(axis=-1).sum()) if probabilities.size else 0
    if bad:
        raise NonFiniteScores(f"{model} produced non-finite scores (NaN or infinity) for {bad} "
                              f"photo{'s' if bad > 1 else ''}, so it cannot be used: train it again or choose "
                              "another model.")
    return probabilities


class Predictor:
    def __init__(self, checkpoint: dict[str, Any], model: Classifier, device: torch.device) -> None:
        self.checkpoint = checkpoint
        self.model = model.eval().to(device)
        self.spec: BackboneSpec = model.spec
        self.device = device
        self.class_names: list[str] = list(checkpoint["class_names"])
        self._transform = eval_transform(self.spec)
        self._autocast, _ = autocast_for(device)
        if use_channels_last_for_inference(device):
            self.model.to(memory_format=torch.channels_last)

    @classmethod
    def from_checkpoint(cls, source: Path | str | bytes | dict[str, Any], device: str = "auto") -> Predictor:
        """``source``: a model file, its bytes, or a checkpoint dict (e.g. ``TrainResult.checkpoint``)."""
        checkpoint = source if isinstance(source, dict) else load_checkpoint(source)
        validate_checkpoint(checkpoint)
        try:
            spec = get_backbone(checkpoint["backbone"])
        except WeightsError:
            raise CheckpointError(f"This model needs the backbone “{checkpoint['backbone']}”, which this "
                                  "installation of Pigeonhole does not have.") from None
        # The checkpoint describes its own preprocessing: it wins over today's registry entry.
        spec = replace(spec, input_size=checkpoint["input_size"], resize_size=checkpoint["resize_size"],
                       interpolation=checkpoint.get("interpolation", spec.interpolation),
                       mean=tuple(checkpoint["mean"]), std=tuple(checkpoint["std"]))
        # A frozen model's file holds its head; its backbone is the pretrained weights, built from them here.
        pretrained = _pretrained_backbone(checkpoint)
        backbone, in_features = build_feature_extractor(spec, weights=pretrained)
        head_config = checkpoint["head"]
        if head_config.get("in_features") != in_features:
            raise CheckpointError("The model file does not match its backbone (feature size differs).")
        head = LinearHead(in_features, head_config["num_classes"], float(head_config.get("dropout", 0.0)))
        model = Classifier(spec, backbone, head)
        state = {key: torch.from_numpy(np.array(value)) for key, value in checkpoint["state_dict"].items()}
        head_state = {key.removeprefix("head."): value for key, value in state.items() if key.startswith("head.")}
        try:
            if pretrained is None:
                model.load_state_dict(state, strict=True)
            elif len(head_state) != len(state):
                raise RuntimeError("weights other than the head's beside a pretrained backbone")
            else:
                model.head.load_state_dict(head_state, strict=True)
        except RuntimeError as exc:
            raise CheckpointError("The model file's weights do not fit its backbone.") from exc
        return cls(checkpoint, model, resolve_device(device))

    @property
    def feature_key(self) -> str | None:
        """Feature-cache folder whose features this model's backbone reproduces (frozen-mode models only)."""
        return self.checkpoint.get("feature_key")

    @property
    def pretrained_identity(self) -> str | None:
        """Digest of the pretrained weights the backbone still holds unchanged (frozen-mode models), which lets the
        CPU compute it through their cached ONNX export; None for a fine-tuned backbone (torch computes it)."""
        if not self.feature_key:
            return None
        return (self.checkpoint.get("weights") or {}).get("identity")

    def predict_paths(self, paths: Sequence[str | Path], batch_size: int = 32,
                      on_progress: ProgressCallback | None = None, cancel: CancelToken | None = None, *,
                      num_workers: int | None = None, content_hashes: Sequence[str] | None = None,
                      cache_dir: Path | None = None, on_error: Callable[[int, str], None] | None = None
                      ) -> np.ndarray:
        """Probabilities (N, C) float32, rows in the order of ``paths``, NaN rows for unreadable images.

        ``on_error(index, reason)`` is told about each unreadable image. With ``content_hashes`` and
        ``cache_dir``, a frozen-mode model reuses (and fills) the training feature cache.
        Raises Cancelled when ``cancel`` is set, NonFiniteScores when the model gives NaN or infinity.
        """
        cache = None
        if self.feature_key and cache_dir is not None and content_hashes is not None:
            cache = FeatureCache(cache_dir, self.feature_key)
        features = extract_features(self.model.backbone, self.spec, paths, content_hashes, cache=cache,
                                    views=(ORIGINAL,), device=self.device, batch_size=batch_size,
                                    num_workers=num_workers, on_progress=on_progress, cancel=cancel,
                                    phase=PHASE_PREDICTING, weights_identity=self.pretrained_identity)
        probabilities = np.full((len(paths), len(self.class_names)), np.nan, dtype=np.float32)
        if features.ok.any():
            probabilities[features.ok] = require_finite(
                self._head_probabilities(features.features[features.ok, ORIGINAL]))
        if on_error is not None:
            for index, reason in sorted(features.errors.items()):
                on_error(index, reason)
        return probabilities

    def predict_array(self, rgb: np.ndarray) -> np.ndarray:
        """Probabilities (C,) for one RGB uint8 (H, W, 3) image, e.g. the preview on screen."""
        image = self._transform(rgb).unsqueeze(0).to(self.device)
        if use_channels_last_for_inference(self.device):
            image = image.contiguous(memory_format=torch.channels_last)
        with torch.inference_mode(), self._autocast():
            logits = self.model(image)
        return require_finite(logits.float().softmax(1)[0].cpu().numpy())

    def _head_probabilities(self, features: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            logits = self.model.head(torch.from_numpy(features).to(self.device))
        return logits.float().softmax(1).cpu().numpy().astype(np.float32)


def _pretrained_backbone(checkpoint: dict[str, Any]) -> Path | None:
    """The pretrained weights that are a frozen model's backbone when its file holds only the head (format 2);
    None when the file holds the whole classifier (fine-tuned models, and frozen ones saved before)."""
    if any(key.startswith("backbone.") for key in checkpoint["state_dict"]):
        return None
    name = checkpoint["backbone"]
    identity = (checkpoint.get("weights") or {}).get("identity")
    if checkpoint["mode"] != "frozen" or identity is None:
        raise CheckpointError("The model file holds no weights for its backbone, so it cannot be used.")
    try:
        path = require_weights(name)
    except WeightsError as exc:
        raise CheckpointError(str(exc)) from None  # "The ImageNet weights of … are not on this computer. Import …"
    if weights_identity(path) != identity:
        raise CheckpointError(f"This model was trained on other pretrained weights of “{name}” than the ones on "
                              "this computer, so it cannot be used here: train it again.")
    return path
