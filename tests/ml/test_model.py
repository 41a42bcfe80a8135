"""Classifier assembly: partial freezing, BatchNorm handling, cancel checks between blocks."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from desktop.ml.backbones import get_backbone
from desktop.ml.model import build_classifier, cancel_between_blocks
from desktop.progress import Cancelled


@pytest.fixture
def resnet18():
    torch.manual_seed(0)
    return build_classifier(get_backbone("resnet18"), 3, weights=None, dropout=0.1)


def test_head_is_sized_from_the_backbone(resnet18) -> None:
    assert resnet18.head.linear.in_features == 512 and resnet18.head.linear.out_features == 3
    assert resnet18.head.config == {"in_features": 512, "num_classes": 3, "dropout": 0.1}
    assert resnet18(torch.zeros(2, 3, 64, 64)).shape == (2, 3)


def test_partial_freezing_trains_only_the_last_blocks(resnet18) -> None:
    units = resnet18.units
    assert len(units) == 10  # conv1, bn1 and the eight BasicBlocks
    assert resnet18.freeze_backbone(0.3) == 3
    trainable = {id(p) for p in resnet18.backbone_parameters()}
    assert trainable == {id(p) for unit in units[-3:] for p in unit.parameters()}
    assert all(p.requires_grad for p in resnet18.head.parameters())
    resnet18.train()
    assert resnet18.training and resnet18.head.training
    assert not any(module.training for unit in units[:-3] for module in unit.modules())
    batchnorms = [m for m in resnet18.backbone.modules() if isinstance(m, nn.BatchNorm2d)]
    assert batchnorms and not any(m.training for m in batchnorms), "pretrained statistics are kept"
    assert units[-1].training and units[-1].conv1.training


def test_random_weights_train_everything_including_batchnorm(resnet18) -> None:
    resnet18.freeze_backbone(1.0, freeze_batchnorm=False)
    assert all(p.requires_grad for p in resnet18.parameters())
    resnet18.train()
    assert all(m.training for m in resnet18.modules())
    before = resnet18.backbone.bn1.running_mean.clone()
    resnet18(torch.randn(4, 3, 64, 64) + 3)
    assert not torch.equal(before, resnet18.backbone.bn1.running_mean)


def test_cancel_is_checked_before_every_block(resnet18) -> None:
    calls = []

    class CancelAtThirdBlock:
        def is_set(self) -> bool:
            calls.append(1)
            return len(calls) >= 3

    with cancel_between_blocks(resnet18.units, CancelAtThirdBlock()), pytest.raises(Cancelled):
        resnet18.eval()(torch.zeros(1, 3, 64, 64))
    assert len(calls) == 3
    resnet18(torch.zeros(1, 3, 64, 64))  # the hooks are gone afterwards
    assert len(calls) == 3
