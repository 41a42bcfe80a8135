"""A feature set's network (torch): several backbones' feature extractors on the same crop, their pooled
features side by side. Apart from ``backbones`` so that the registry imports without torch."""

from __future__ import annotations

import torch
from torch import nn


class FeatureSetNetwork(nn.Module):
    """Several feature extractors on the same crop; their pooled features side by side (N, sum of D)."""

    def __init__(self, members: dict[str, nn.Module]) -> None:
        super().__init__()
        self.members = nn.ModuleDict(members)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return torch.cat([member(images) for member in self.members.values()], dim=1)
