"""The on-disk feature cache: lookups, crash safety, compaction, mirrored views."""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import ImageSet, file_hash

from desktop.io.safe_files import TEMP_PREFIX
from desktop.ml import features as features_module
from desktop.ml.backbones import build_feature_extractor, get_backbone, require_weights, weights_identity
from desktop.ml.features import MIRRORED, ORIGINAL, FeatureCache, extract_features, feature_key, open_feature_cache


def test_rows_survive_reopening_and_are_keyed_by_hash_and_view(tmp_path: Path) -> None:
    cache = FeatureCache(tmp_path, "key")
    cache.add("aaa", ORIGINAL, np.arange(4, dtype=np.float32))
    cache.add("aaa", MIRRORED, np.arange(4, dtype=np.float32) + 10)
    assert not cache.has("aaa")  # not visible (or durable) before a flush
    cache.flush()
    reopened = FeatureCache(tmp_path, "key")
    assert len(reopened) == 2 and reopened.feature_dim == 4
    assert reopened.get("aaa", ORIGINAL).tolist() == [0, 1, 2, 3]
    assert reopened.get("aaa", MIRRORED).tolist() == [10, 11, 12, 13]
    assert reopened.get("bbb") is None
    assert not FeatureCache(tmp_path, "other-key").has("aaa")


def test_interrupted_writes_and_damaged_shards_are_ignored(tmp_path: Path) -> None:
    cache = FeatureCache(tmp_path, "key")
    cache.add("good", ORIGINAL, np.ones(3, np.float32))
    cache.flush()
    folder = cache.directory
    (folder / f"{TEMP_PREFIX}half-written.part").write_bytes(b"PK\x03\x04 half")  # killed mid-write
    (folder / "shard-99999999999999999999-deadbeef.npz").write_bytes(b"garbage")  # disk damage
    stale = folder / f"{TEMP_PREFIX}old.part"
    stale.write_bytes(b"x")
    an_hour_ago = time.time() - 2 * features_module.STALE_TEMP_SECONDS
    os.utime(stale, (an_hour_ago, an_hour_ago))
    reopened = FeatureCache(tmp_path, "key")
    assert len(reopened) == 1 and reopened.get("good").tolist() == [1, 1, 1]
    assert not stale.exists(), "temporary files older than an hour are cleaned up"
    assert (folder / f"{TEMP_PREFIX}half-written.part").exists(), "a live writer's file is left alone"


def test_many_shards_are_merged_without_losing_rows(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(features_module, "COMPACT_AT_SHARDS", 4)
    cache = FeatureCache(tmp_path, "key")
    for index in range(10):
        cache.add(f"h{index}", ORIGINAL, np.full(2, index, np.float32))
        cache.flush()
    shards = list(cache.directory.glob("shard-*.npz"))
    assert 1 <= len(shards) < 4
    reopened = FeatureCache(tmp_path, "key")
    assert len(reopened) == 10
    assert all(reopened.get(f"h{index}").tolist() == [index, index] for index in range(10))


def test_the_key_changes_with_weights_and_preprocessing() -> None:
    spec = get_backbone("efficientnet_lite0")
    import dataclasses

    assert feature_key(spec, "blake2b:1") != feature_key(spec, "blake2b:2")
    assert feature_key(spec, "blake2b:1") != feature_key(dataclasses.replace(spec, resize_size=240), "blake2b:1")
    assert feature_key(spec, "blake2b:1") == feature_key(get_backbone("efficientnet_lite0"), "blake2b:1")


def test_extraction_fills_the_cache_once_and_mirrors_on_request(image_set: ImageSet, tmp_path: Path) -> None:
    spec = get_backbone("efficientnet_lite0")
    weights = require_weights(spec.name)
    extractor, _ = build_feature_extractor(spec, weights)
    paths = [*image_set.paths[:3], image_set.paths[0]]  # the same content twice is computed once
    hashes = [file_hash(p) for p in paths]
    cache = open_feature_cache(tmp_path, spec, weights_identity(weights))
    first = extract_features(extractor, spec, paths, hashes, cache=cache, views=(ORIGINAL, MIRRORED))
    assert first.computed == 3 and first.reused == 0 and first.ok.all()
    assert first.features.shape == (4, 2, 1280)
    assert np.array_equal(first.features[0], first.features[3])
    assert not np.allclose(first.features[:, ORIGINAL], first.features[:, MIRRORED])
    again = extract_features(extractor, spec, paths, hashes, cache=open_feature_cache(tmp_path, spec,
                                                                                      weights_identity(weights)),
                             views=(ORIGINAL,))
    assert again.computed == 0 and again.reused == 4
    np.testing.assert_array_equal(again.features[:, 0], first.features[:, ORIGINAL])


def test_datasets_can_cross_a_process_boundary(image_set: ImageSet) -> None:
    """spawn/forkserver workers (macOS, Windows, a GUI on Linux) receive the dataset pickled."""
    import pickle

    import torch

    from desktop.ml.data import ImageDataset
    from desktop.ml.features import _Views
    from desktop.ml.transforms import train_transform

    spec = get_backbone("efficientnet_lite0")
    for transform in (_Views(spec, (ORIGINAL, MIRRORED)), train_transform(spec)):
        dataset = ImageDataset(image_set.paths[:2], [0, 1], transform, decode_size=256, sample_shape=(3, 224, 224))
        copy = pickle.loads(pickle.dumps(dataset))
        torch.manual_seed(0)
        expected = dataset[1][0]
        torch.manual_seed(0)
        assert np.array_equal(np.asarray(copy[1][0]), np.asarray(expected))


def test_cpu_inference_batches_match_the_dataloader(image_set: ImageSet, tmp_path: Path) -> None:
    """On a CPU, batches are decoded on a thread pool in this process: same order, values and skipped files."""
    import torch

    from desktop.ml.data import ImageDataset, ThreadedBatches, make_inference_batches, make_loader, valid_batches
    from desktop.ml.features import _Views

    broken = tmp_path / "broken.jpg"
    broken.write_bytes(image_set.paths[0].read_bytes()[:200])
    paths = [*image_set.paths[:5], broken, *image_set.paths[5:9]]
    spec = get_backbone("efficientnet_lite0")
    dataset = ImageDataset(paths, None, _Views(spec, (ORIGINAL,)), decode_size=256, sample_shape=(1, 3, 224, 224),
                           indices=range(100, 110))
    assert isinstance(make_inference_batches(dataset, 4, device=torch.device("cpu")), ThreadedBatches)
    got: dict[int, str] = {}
    expected: dict[int, str] = {}
    threaded = list(valid_batches(ThreadedBatches(dataset, 4, threads=3), got))
    reference = list(valid_batches(make_loader(dataset, 4, num_workers=0), expected))
    assert len(threaded) == len(reference) == 3 and got.keys() == expected.keys() == {105}
    for (images, _, indices), (ref_images, _, ref_indices) in zip(threaded, reference, strict=True):
        assert indices.tolist() == ref_indices.tolist() and np.array_equal(images, ref_images.numpy())


def test_a_cache_folder_that_cannot_be_written_keeps_features_in_memory(image_set: ImageSet, tmp_path: Path) -> None:
    """A file where the cache folder should be (a read-only or full disk alike): training goes on without the cache
    and says so once, instead of stopping on 'Not a directory'."""
    from desktop.ml.options import TrainingOptions
    from desktop.ml.trainer import train

    blocked = tmp_path / "cache"
    blocked.write_bytes(b"not a folder")
    cache = FeatureCache(blocked, "key")
    cache.add("aaa", ORIGINAL, np.arange(4, dtype=np.float32))
    cache.flush()
    assert cache.get("aaa").tolist() == [0, 1, 2, 3] and "cannot be written" in cache.problem
    result = train(TrainingOptions(mode="frozen"), image_set.items(), image_set.class_names, blocked)
    assert result.features_computed == len(image_set.items()) and result.metrics.accuracy > 0.5
    assert sum("feature cache" in notice and "cannot be written" in notice for notice in result.notices) == 1
    assert blocked.read_bytes() == b"not a folder"


def test_a_pipe_among_the_shards_does_not_block_opening_the_cache(tmp_path: Path) -> None:
    cache = FeatureCache(tmp_path, "key")
    cache.add("good", ORIGINAL, np.ones(3, np.float32))
    cache.flush()
    os.mkfifo(cache.directory / "shard-99999999999999999999-fifo0000.npz")
    reopened = FeatureCache(tmp_path, "key")  # would wait for a writer for ever on np.load(path)
    assert reopened.get("good").tolist() == [1, 1, 1] and reopened.problem is None
