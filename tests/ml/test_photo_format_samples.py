"""Training and feature extraction read HEIC and RAW photos through the same loader as JPEGs."""

from __future__ import annotations

from pathlib import Path

import formatmakers as fm
import imagemakers as mk
import torch

from desktop.ml.data import ImageDataset


def _to_tensor(rgb):
    return torch.from_numpy(rgb.copy()).permute(2, 0, 1).float()


@fm.needs_heif_enc
def test_heic_and_dng_samples_load_like_a_jpeg(tmp_path: Path) -> None:
    paths = [mk.write(tmp_path / "a.heic", fm.heic_bytes(mk.photo_array(64, 48))),
             mk.write(tmp_path / "b.dng", fm.with_preview(fm.dng_bytes(64, 48), mk.photo_array(64, 48))),
             mk.write_jpeg(tmp_path / "c.jpg", 64, 48)]
    dataset = ImageDataset(paths, [0, 1, 0], _to_tensor, decode_size=32, sample_shape=(3, 48, 64))
    for position in range(3):
        tensor, _label, _index, error = dataset[position]
        assert error == "" and tuple(tensor.shape) == (3, 48, 64) and tensor.max() > 0, paths[position]
