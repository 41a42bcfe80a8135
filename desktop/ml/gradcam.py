"""Why this prediction: a Grad-CAM heatmap of where in the photo the evidence for a class lies.

Grad-CAM (Selvaraju et al., 2017): weight the last spatial feature map of the backbone by the gradient of
the class score, averaged per channel, keep the positive part. The class and its probability come from the centre
crop the prediction was made on (eval preprocessing: shorter side resized, centre cropped); the map itself is
computed over the whole photo at the same scale — the backbone is convolutional — so it covers all of the photo
instead of ending in a hard rectangle at the crop's edge. A panorama longer than ``MAX_VIEW_ASPECT`` is explained
over its centre part of that shape, and the heat fades out beyond it.

A frozen model's Grad-CAM needs no gradients and no torch (``frozen_cam``: from the backbone's ONNX file and the
head), in both builds; a fine-tuned model's is computed by torch (full build). torch is imported only for those.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import cv2
import numpy as np

from desktop.ml.frozen_cam import frozen_class_activation
from desktop.ml.predict import HeadPredictor, Predictor
from desktop.ml.preprocess import whole_view_array

if TYPE_CHECKING:
    import torch

MAX_VIEW_ASPECT = 3.0  # longer views cost more than they show; the rest of a panorama gets the faded edge
FADE = 0.25  # beyond the explained part, the heat fades out over this fraction of its shorter side


@dataclass(frozen=True)
class Heatmap:
    values: np.ndarray  # (H, W) float32 in [0, 1], same size as the photo given
    class_index: int  # the class explained
    probability: float  # the model's probability for it (on the centre crop, as predicted)
    crop: tuple[int, int, int, int]  # x, y, width, height of the centre crop the prediction looked at


def grad_cam(predictor: Predictor, rgb: np.ndarray, class_index: int | None = None) -> Heatmap:
    """Heatmap for ``class_index`` (default: the predicted class) over the RGB uint8 (H, W, 3) photo."""
    spec = predictor.spec
    probabilities = predictor.predict_array(rgb)
    index = int(probabilities.argmax()) if class_index is None else class_index
    height, width = rgb.shape[:2]
    x, y, w, h = _view(width, height)
    view = whole_view_array(rgb[y:y + h, x:x + w], spec)
    cam = frozen_class_activation(predictor, view, index) if isinstance(predictor, HeadPredictor) else None
    if cam is None:
        import torch

        cam = _class_activation(predictor, torch.from_numpy(view), index)
    values = _fade_beyond(cv2.resize(cam, (w, h), interpolation=cv2.INTER_CUBIC).clip(0, 1), (x, y), (width, height))
    scale = spec.resize_size / min(height, width)
    side = min(round(spec.input_size / scale), height, width)
    crop = ((width - side) // 2, (height - side) // 2, side, side)
    return Heatmap(values, index, float(probabilities[index]), crop)


def _view(width: int, height: int) -> tuple[int, int, int, int]:
    """The centred part of the photo explained: all of it, unless longer than MAX_VIEW_ASPECT."""
    w = min(width, round(height * MAX_VIEW_ASPECT))
    h = min(height, round(width * MAX_VIEW_ASPECT))
    return (width - w) // 2, (height - h) // 2, w, h


def _class_activation(predictor: Predictor, image: torch.Tensor, index: int) -> np.ndarray:
    """torch's Grad-CAM of class ``index`` for one preprocessed image (C, H, W): (h, w) float32 in [0, 1]."""
    import torch

    model = predictor.model
    maps: list[torch.Tensor] = []
    hooks = [unit.register_forward_hook(lambda _m, _i, output: maps.append(output)) for unit in model.units]
    try:
        with torch.enable_grad():
            logits = model(image.unsqueeze(0).to(predictor.device).float())
            spatial = [m for m in maps if m.dim() == 4]
            if not spatial:
                raise ValueError(f"{predictor.spec.display_name} has no spatial map of the photo to explain")
            activation = spatial[-1]
            (gradient,) = torch.autograd.grad(logits[0, index], activation)
    finally:
        for hook in hooks:
            hook.remove()
    weights = gradient.mean(dim=(2, 3), keepdim=True)
    cam = torch.relu((weights * activation).sum(1))[0].detach().float().cpu().numpy()
    return cam / cam.max() if cam.max() > 0 else cam


def _fade_beyond(values: np.ndarray, origin: tuple[int, int], size: tuple[int, int]) -> np.ndarray:
    """``values`` placed at ``origin`` in a map of ``size`` (width, height); outside, the nearest edge's heat
    fading linearly to nothing, so no hard edge is drawn."""
    (x, y), (width, height) = origin, size
    h, w = values.shape
    if (w, h) == (width, height):
        return values.astype(np.float32)
    padded = np.pad(values, ((y, height - y - h), (x, width - x - w)), mode="edge")
    margin = max(1.0, FADE * min(w, h))
    columns, rows = np.arange(width), np.arange(height)
    outside_x = np.maximum(x - columns, columns - (x + w - 1)).clip(0)
    outside_y = np.maximum(y - rows, rows - (y + h - 1)).clip(0)
    fade = np.clip(1 - np.maximum.outer(outside_y, outside_x) / margin, 0, 1)
    return (padded * fade).astype(np.float32)


def overlay_rgba(heatmap: Heatmap, opacity: float = 0.55) -> np.ndarray:
    """(H, W, 4) uint8: a colour map (blue = little, red = much evidence) whose alpha follows the heat, to paint
    over the photo."""
    colours = cv2.applyColorMap((heatmap.values * 255).astype(np.uint8), cv2.COLORMAP_JET)
    rgba = np.empty((*heatmap.values.shape, 4), dtype=np.uint8)
    rgba[..., :3] = colours[..., ::-1]
    rgba[..., 3] = (np.sqrt(heatmap.values) * opacity * 255).astype(np.uint8)
    return rgba
