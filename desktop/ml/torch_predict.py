"""The full build's predictor: a model whose backbone is not the pretrained one (fine-tuned, or trained from
scratch), run whole in torch. ``predict.Predictor.from_checkpoint`` makes one; a frozen model needs no torch.

On a GPU, decoding in DataLoader workers overlaps the forward pass; on a CPU, each batch is decoded on every
core, then computed on every core (``data.make_inference_batches``).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn

from desktop.ml.backbones import BackboneSpec, build_feature_extractor
from desktop.ml.checkpoint import HEAD_WEIGHT, CheckpointError
from desktop.ml.device import autocast_for, resolve_device, use_channels_last_for_inference
from desktop.ml.model import Classifier, LinearHead
from desktop.ml.scoring import PredictorBase, require_finite
from desktop.ml.transforms import eval_transform


def classifier_from(checkpoint: dict[str, Any], spec: BackboneSpec, pretrained: Any = None) -> Classifier:
    """The checkpoint's whole classifier in torch: its backbone from its own weights, or for a frozen model (whose
    file holds the head) ``pretrained``, the pretrained feature extractor, with the checkpoint's head."""
    if pretrained is None:
        backbone, in_features = build_feature_extractor(spec, weights=None)  # weights: from the checkpoint
    else:
        backbone, in_features = pretrained, int(np.shape(checkpoint["state_dict"][HEAD_WEIGHT])[1])
    head_config = checkpoint["head"]
    if head_config.get("in_features") != in_features:
        raise CheckpointError("The model file does not match its backbone (feature size differs).")
    head = LinearHead(in_features, head_config["num_classes"], float(head_config.get("dropout", 0.0)))
    state = {key: torch.from_numpy(np.array(value)) for key, value in checkpoint["state_dict"].items()}
    model = Classifier(spec, backbone, head)
    try:
        if pretrained is None:
            model.load_state_dict(state, strict=True)
        else:  # a frozen model: its head (a format-1 file's copy of the pretrained backbone is not needed)
            model.head.load_state_dict({key.removeprefix("head."): value for key, value in state.items()
                                        if key.startswith("head.")}, strict=True)
    except RuntimeError as exc:
        raise CheckpointError("The model file's weights do not fit its backbone.") from exc
    return model.eval()


class TorchPredictor(PredictorBase):
    def __init__(self, checkpoint: dict[str, Any], spec: BackboneSpec, device: str = "auto") -> None:
        super().__init__(checkpoint, spec)
        self.device = resolve_device(device)
        self._model = classifier_from(checkpoint, spec).to(self.device)
        self._transform = eval_transform(self.spec)
        self._autocast, _ = autocast_for(self.device)
        if use_channels_last_for_inference(self.device):
            self._model.to(memory_format=torch.channels_last)

    @property
    def model(self) -> Classifier:
        return self._model

    @property
    def torch_extractor(self) -> nn.Module:
        return self._model.backbone

    def predict_array(self, rgb: np.ndarray) -> np.ndarray:
        image = self._transform(rgb).unsqueeze(0).to(self.device)
        if use_channels_last_for_inference(self.device):
            image = image.contiguous(memory_format=torch.channels_last)
        with torch.inference_mode(), self._autocast():
            logits = self._model(image)
        return require_finite(logits.float().softmax(1)[0].cpu().numpy())

    def head_probabilities(self, features: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            logits = self._model.head(torch.from_numpy(features).to(self.device))
        return logits.float().softmax(1).cpu().numpy().astype(np.float32)
