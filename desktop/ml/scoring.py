"""What every predictor shares, in either build: the interface (``PredictorBase``: class names, the backbone spec,
probabilities for files — one batched feature pass, then the head — or one image, the head over features), the
softmax of a head's logits, and the refusal of non-finite scores. ``predict`` opens a model file as one;
``torch_predict`` is the full build's for fine-tuned models."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from desktop.errors import PigeonholeError
from desktop.ml.features import ORIGINAL, FeatureCache, FeatureSet, extract_features
from desktop.progress import PHASE_PREDICTING, CancelToken, ProgressCallback

if TYPE_CHECKING:
    from desktop.ml.backbones import BackboneSpec


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


def softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise softmax in float64, returned as float32 (a head's probabilities, the same in both builds)."""
    shifted = np.asarray(logits, np.float64)
    shifted = shifted - shifted.max(axis=-1, keepdims=True)
    exp = np.exp(shifted)
    return (exp / exp.sum(axis=-1, keepdims=True)).astype(np.float32)


class PredictorBase:
    """A saved model ready to predict: ``class_names``, ``spec`` (the backbone with the checkpoint's preprocessing),
    ``predict_paths`` for image files and ``predict_array`` for one image in memory."""

    device: Any = None  # where the torch backbone runs; None: the CPU through ONNX Runtime

    def __init__(self, checkpoint: dict[str, Any], spec: BackboneSpec) -> None:
        self.checkpoint = checkpoint
        self.spec = spec
        self.class_names: list[str] = list(checkpoint["class_names"])

    @property
    def feature_key(self) -> str | None:
        """Feature-cache folder whose features this model's backbone reproduces (frozen-mode models only)."""
        return self.checkpoint.get("feature_key")

    @property
    def pretrained_identity(self) -> str | None:
        """Digest of the pretrained weights that are this model's backbone (frozen models); None otherwise."""
        return None

    @property
    def model(self) -> Any:
        """The whole classifier as a torch module (full build: Grad-CAM, TorchScript and ONNX export)."""
        raise NotImplementedError

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
        features = extract_features(self.torch_extractor, self.spec, paths, content_hashes,
                                    cache=self.feature_cache(cache_dir, content_hashes), views=(ORIGINAL,),
                                    device=self.device, batch_size=batch_size, num_workers=num_workers,
                                    on_progress=on_progress, cancel=cancel, phase=PHASE_PREDICTING,
                                    weights_identity=self.pretrained_identity)
        return self.probabilities_of(features, on_error)

    @property
    def torch_extractor(self) -> Any:
        """The backbone whose features the head takes, in torch (a frozen model's is None in the CPU build, where
        ONNX Runtime computes them; it also exports the ONNX file where none is)."""
        raise NotImplementedError

    def feature_cache(self, cache_dir: Path | None, content_hashes: Sequence[str] | None) -> FeatureCache | None:
        """Where ``predict_paths`` reuses and keeps features: none but for a model on pretrained features."""
        return None

    def predict_array(self, rgb: np.ndarray) -> np.ndarray:
        """Probabilities (C,) for one RGB uint8 (H, W, 3) image, e.g. the preview on screen."""
        raise NotImplementedError

    def head_probabilities(self, features: np.ndarray) -> np.ndarray:
        """Probabilities (N, C) float32 of the head on backbone features (N, D)."""
        raise NotImplementedError

    def probabilities_of(self, features: FeatureSet, on_error: Callable[[int, str], None] | None) -> np.ndarray:
        """The head over extracted features: NaN rows for the unreadable images, each told to ``on_error``."""
        probabilities = np.full((len(features.ok), len(self.class_names)), np.nan, dtype=np.float32)
        if features.ok.any():
            probabilities[features.ok] = require_finite(
                self.head_probabilities(features.features[features.ok, ORIGINAL]))
        if on_error is not None:
            for index, reason in sorted(features.errors.items()):
                on_error(index, reason)
        return probabilities
