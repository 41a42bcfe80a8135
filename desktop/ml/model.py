"""The classifier Pigeonhole trains: a pretrained backbone that outputs a pooled feature vector, plus a new head.

The head is the only part trained in ``frozen`` mode (on cached features), so it is a separate module whose
``state_dict`` keys are the same whether it was trained alone or inside the whole model.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator
from pathlib import Path

import torch
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm

from desktop.ml.backbones import BackboneSpec, backbone_units, build_feature_extractor
from desktop.progress import CancelToken, check_cancel


class LinearHead(nn.Module):
    def __init__(self, in_features: int, num_classes: int, dropout: float = 0.0) -> None:
        super().__init__()
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        self.linear = nn.Linear(in_features, num_classes)
        self.config = {"in_features": in_features, "num_classes": num_classes, "dropout": float(dropout)}

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.linear(self.dropout(features))


class Classifier(nn.Module):
    def __init__(self, spec: BackboneSpec, backbone: nn.Module, head: LinearHead) -> None:
        super().__init__()
        self.spec = spec
        self.backbone = backbone
        self.head = head
        self._frozen_units: list[nn.Module] = []
        self._frozen_batchnorm = False

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.head(self.backbone(images))

    @property
    def units(self) -> list[nn.Module]:
        return backbone_units(self.spec, self.backbone)

    def freeze_backbone(self, trainable_fraction: float = 0.0, *, freeze_batchnorm: bool = True) -> int:
        """Freeze the backbone except its last blocks; returns how many blocks stay trainable.

        ``trainable_fraction`` 0 freezes everything, 1 trains everything; in between, the trailing
        ceil(fraction × blocks) blocks train. Frozen blocks also run in eval mode (see ``train``), and with
        ``freeze_batchnorm`` every BatchNorm keeps its pretrained statistics (not for random weights).
        """
        units = self.units
        trainable = 0 if trainable_fraction <= 0 else max(1, math.ceil(trainable_fraction * len(units)))
        self.backbone.requires_grad_(False)
        for unit in units[len(units) - trainable:]:
            unit.requires_grad_(True)
        if trainable_fraction >= 1:
            self.backbone.requires_grad_(True)  # also parameters outside the listed blocks, if any
        self._frozen_units = units[: len(units) - trainable]
        self._frozen_batchnorm = freeze_batchnorm
        self.train(self.training)
        return trainable

    def train(self, mode: bool = True) -> Classifier:
        super().train(mode)
        if mode:
            # Frozen blocks must not update BatchNorm statistics or drop paths; and with the small batches of a
            # laptop, batch statistics are noisier than ImageNet's, so pretrained BatchNorms keep theirs.
            for unit in self._frozen_units:
                unit.eval()
            if self._frozen_batchnorm:
                for module in self.backbone.modules():
                    if isinstance(module, _BatchNorm):
                        module.eval()
        return self

    def backbone_parameters(self) -> list[nn.Parameter]:
        return [p for p in self.backbone.parameters() if p.requires_grad]


def build_classifier(spec: BackboneSpec, num_classes: int, *, weights: Path | None,
                     dropout: float = 0.2) -> Classifier:
    """``weights``: path of the backbone's pretrained weights, or None for random initialisation."""
    backbone, in_features = build_feature_extractor(spec, weights)
    return Classifier(spec, backbone, LinearHead(in_features, num_classes, dropout))


@contextlib.contextmanager
def cancel_between_blocks(units: list[nn.Module], cancel: CancelToken | None) -> Iterator[None]:
    """Check ``cancel`` before each block runs, so a cancel lands within one block, not one whole batch.

    On a laptop CPU one batch through a backbone takes seconds; one block takes a fraction of that.
    """
    if cancel is None:
        yield
        return
    handles = [unit.register_forward_pre_hook(lambda _module, _inputs: check_cancel(cancel)) for unit in units]
    try:
        yield
    finally:
        for handle in handles:
            handle.remove()
