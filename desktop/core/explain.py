"""“Why this prediction?”: one photo's Grad-CAM heatmap from a model file, with the overlay to paint over it.

Loading a model takes seconds, so an explanation hands back the model it used and the next call reuses it while the
file stays the same. Torch is imported on the first call, not with this module: call it off the GUI thread.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np

    from desktop.ml.gradcam import Heatmap
    from desktop.ml.predict import Predictor

HEATMAP_SIDE = 512  # decode size for the explanation: plenty for a 7 × 7 map, fast for a 24 MP photo


@dataclass(frozen=True)
class LoadedModel:
    """A model file and the predictor built from it."""

    file: Path
    predictor: Predictor


@dataclass(frozen=True)
class Explanation:
    model: LoadedModel  # pass it to the next explain_photo to skip loading the model again
    heatmap: Heatmap
    overlay: np.ndarray  # (H, W, 4) uint8: desktop.ml.gradcam.overlay_rgba of the heatmap
    class_name: str  # the class explained: the predicted one


def explain_photo(photo: Path, model_file: Path, loaded: LoadedModel | None = None) -> Explanation:
    """Where in ``photo`` the model of ``model_file`` sees its predicted class; ``loaded`` is reused if it is that
    model."""
    from desktop.io.images import load_rgb
    from desktop.ml.gradcam import grad_cam, overlay_rgba
    from desktop.ml.predict import Predictor

    if loaded is None or loaded.file != model_file:
        loaded = LoadedModel(model_file, Predictor.from_checkpoint(model_file))
    heatmap = grad_cam(loaded.predictor, load_rgb(photo, min_long_side=HEATMAP_SIDE))
    return Explanation(loaded, heatmap, overlay_rgba(heatmap), loaded.predictor.class_names[heatmap.class_index])
