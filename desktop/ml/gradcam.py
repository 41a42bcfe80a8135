"""Why this prediction: a Grad-CAM heatmap of where in the photo the evidence for a class lies.

Grad-CAM (Selvaraju et al., 2017): weight the last spatial feature map of the backbone by the gradient of
the class score, averaged per channel, keep the positive part. The map covers the centre crop the model
sees (eval preprocessing: shorter side resized, centre cropped), so it is placed back into the photo's own
coordinates; the margins outside the crop get zero.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import torch

from desktop.ml.predict import Predictor
from desktop.ml.transforms import eval_transform


@dataclass(frozen=True)
class Heatmap:
    values: np.ndarray  # (H, W) float32 in [0, 1], same size as the photo given
    class_index: int  # the class explained
    probability: float  # the model's probability for it
    crop: tuple[int, int, int, int]  # x, y, width, height of the part of the photo the model looked at


def grad_cam(predictor: Predictor, rgb: np.ndarray, class_index: int | None = None) -> Heatmap:
    """Heatmap for ``class_index`` (default: the predicted class) over the RGB uint8 (H, W, 3) photo."""
    model = predictor.model
    spec = predictor.spec
    image = eval_transform(spec)(rgb).unsqueeze(0).to(predictor.device)
    maps: list[torch.Tensor] = []
    hooks = [unit.register_forward_hook(lambda _m, _i, output: maps.append(output)) for unit in model.units]
    try:
        with torch.enable_grad():
            logits = model(image.float())
            spatial = [m for m in maps if m.dim() == 4]
            if not spatial:
                raise ValueError(f"{spec.name} has no spatial feature map to explain")
            activation = spatial[-1]
            probabilities = logits.softmax(1)[0]
            index = int(probabilities.argmax()) if class_index is None else class_index
            (gradient,) = torch.autograd.grad(logits[0, index], activation)
    finally:
        for hook in hooks:
            hook.remove()
    weights = gradient.mean(dim=(2, 3), keepdim=True)
    cam = torch.relu((weights * activation).sum(1))[0].detach().float().cpu().numpy()
    if cam.max() > 0:
        cam /= cam.max()
    height, width = rgb.shape[:2]
    scale = spec.resize_size / min(height, width)
    side = min(round(spec.input_size / scale), height, width)
    x, y = (width - side) // 2, (height - side) // 2
    values = np.zeros((height, width), dtype=np.float32)
    values[y:y + side, x:x + side] = cv2.resize(cam, (side, side), interpolation=cv2.INTER_CUBIC).clip(0, 1)
    return Heatmap(values, index, float(probabilities[index].detach()), (x, y, side, side))


def overlay_rgba(heatmap: Heatmap, opacity: float = 0.55) -> np.ndarray:
    """(H, W, 4) uint8: a colour map (blue = little, red = much evidence) whose alpha follows the heat, to paint
    over the photo."""
    colours = cv2.applyColorMap((heatmap.values * 255).astype(np.uint8), cv2.COLORMAP_JET)
    rgba = np.empty((*heatmap.values.shape, 4), dtype=np.uint8)
    rgba[..., :3] = colours[..., ::-1]
    rgba[..., 3] = (np.sqrt(heatmap.values) * opacity * 255).astype(np.uint8)
    return rgba
