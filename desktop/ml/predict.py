"""Class probabilities for images, from a saved model, in either build.

``Predictor.from_checkpoint`` opens a model file. A model trained in frozen mode is the pretrained backbone and a
linear head (its file holds the head and names the weights), so it needs no torch: a ``HeadPredictor`` gets the
backbone's features through the same batched extraction as training — from the training feature cache where
present, else on a CPU through ONNX Runtime (the shipped or exported ONNX file of those weights), in the full
build on a GPU through torch — and applies the head in numpy. Both builds therefore give the same probabilities.
Any other model (fine-tuned, from scratch) is run whole in torch by the full build (``torch_predict``); the CPU
build says in one sentence that it needs the full build.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from desktop.ml.backbones import BackboneSpec, WeightsError, get_backbone, pretrained_weights
from desktop.ml.builds import full_build_required, require_torch, torch_installed
from desktop.ml.checkpoint import HEAD_BIAS, HEAD_WEIGHT, CheckpointError, load_checkpoint, validate_checkpoint
from desktop.ml.features import ORIGINAL, FeatureCache
from desktop.ml.preprocess import eval_array
from desktop.ml.scoring import NonFiniteScores, PredictorBase, require_finite, softmax

__all__ = ["HeadPredictor", "NonFiniteScores", "Predictor", "PredictorBase", "model_spec", "on_pretrained_backbone",
           "require_finite"]


def model_spec(checkpoint: dict[str, Any]) -> BackboneSpec:
    """The checkpoint's backbone with the preprocessing the checkpoint describes (it wins over today's registry)."""
    try:
        spec = get_backbone(checkpoint["backbone"])
    except WeightsError:
        raise CheckpointError(f"This model needs the backbone “{checkpoint['backbone']}”, which this "
                              "installation of Pigeonhole does not have.") from None
    return replace(spec, input_size=checkpoint["input_size"], resize_size=checkpoint["resize_size"],
                   interpolation=checkpoint.get("interpolation", spec.interpolation),
                   mean=tuple(checkpoint["mean"]), std=tuple(checkpoint["std"]))


def on_pretrained_backbone(checkpoint: dict[str, Any]) -> bool:
    """A frozen model whose backbone is pretrained weights it names: its features are those weights' features."""
    identity = (checkpoint.get("weights") or {}).get("identity")
    return checkpoint["mode"] == "frozen" and bool(checkpoint.get("feature_key")) and identity is not None


class Predictor(PredictorBase):
    """A saved model ready to predict (``PredictorBase``'s interface); ``from_checkpoint`` opens one."""

    @classmethod
    def from_checkpoint(cls, source: Path | str | bytes | dict[str, Any], device: str = "auto") -> PredictorBase:
        """``source``: a model file, its bytes, or a checkpoint dict (e.g. ``TrainResult.checkpoint``)."""
        checkpoint = source if isinstance(source, dict) else load_checkpoint(source)
        validate_checkpoint(checkpoint)
        spec = model_spec(checkpoint)
        if on_pretrained_backbone(checkpoint):
            return HeadPredictor(checkpoint, spec, device)
        if not any(key.startswith("backbone.") for key in checkpoint["state_dict"]):
            raise CheckpointError("The model file holds no weights for its backbone, so it cannot be used.")
        if not torch_installed():
            raise full_build_required("This model was fine-tuned, and using it")
        from desktop.ml.torch_predict import TorchPredictor

        return TorchPredictor(checkpoint, spec, device)


class HeadPredictor(Predictor):
    """A frozen model: the pretrained backbone's features, then the linear head in numpy. No torch in the CPU
    build; the full build keeps the torch backbone for a GPU and for when ONNX Runtime cannot run."""

    def __init__(self, checkpoint: dict[str, Any], spec: BackboneSpec, device: str = "auto") -> None:
        super().__init__(checkpoint, spec)
        state = checkpoint["state_dict"]
        self.weight = np.asarray(state[HEAD_WEIGHT], np.float32)  # (C, D), on raw features, T folded in
        self.bias = np.asarray(state[HEAD_BIAS], np.float32)
        self.identity: str = checkpoint["weights"]["identity"]
        try:
            weights = pretrained_weights(spec.name)
        except WeightsError as exc:
            raise CheckpointError(str(exc)) from None  # "The ImageNet weights of … are not on this computer. …"
        if weights.identity != self.identity:
            raise CheckpointError(f"This model was trained on other pretrained weights of “{spec.name}” than the "
                                  "ones on this computer, so it cannot be used here: train it again.")
        self.weights_path = weights.path
        self.device: Any = None  # the CPU through ONNX Runtime; a torch device in the full build
        self._extractor: Any = None
        self._model: Any = None
        self._engine: Any = None
        if torch_installed():
            from desktop.ml.backbones import build_feature_extractor
            from desktop.ml.device import resolve_device

            self.device = resolve_device(device)
            self._extractor, in_features = build_feature_extractor(spec, weights=weights.path)
            if in_features != self.weight.shape[1]:
                raise CheckpointError("The model file does not match its backbone (feature size differs).")

    @property
    def pretrained_identity(self) -> str:
        """Digest of the pretrained weights that are this model's backbone (their ONNX file computes it)."""
        return self.identity

    @property
    def torch_extractor(self) -> Any:
        return self._extractor

    @property
    def model(self) -> Any:
        require_torch("Running the whole model in PyTorch")
        if self._model is None:
            from desktop.ml.torch_predict import classifier_from

            self._model = classifier_from(self.checkpoint, self.spec, self._extractor).to(self.device)
        return self._model

    def feature_cache(self, cache_dir: Path | None, content_hashes: Sequence[str] | None) -> FeatureCache | None:
        if self.feature_key and cache_dir is not None and content_hashes is not None:
            return FeatureCache(cache_dir, self.feature_key)
        return None

    def predict_array(self, rgb: np.ndarray) -> np.ndarray:
        from desktop.ml.feature_engine import FeatureEngine

        if self._engine is None:
            self._engine = FeatureEngine(self._extractor, self.spec, self.device, self.identity)
        with self._engine.prepared():
            features = self._engine(eval_array(rgb, self.spec)[None, None])[:, ORIGINAL]
        return require_finite(self.head_probabilities(features))[0]

    def head_probabilities(self, features: np.ndarray) -> np.ndarray:
        return softmax(np.asarray(features, np.float32) @ self.weight.T + self.bias)
