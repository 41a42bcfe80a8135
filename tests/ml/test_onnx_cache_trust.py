"""The per-user ONNX cache holds graphs that ONNX Runtime runs: whoever can write it could put any graph there,
with any digest inside. A cached file runs only when its bytes are what this computer exported (a record kept in
the data folder, not beside the file), and only when it passes the rules for any ONNX file; a graph that never
ends cannot outlast Ctrl+C. Graphs crafted with onnx.helper."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import threading

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

from desktop.ml import onnx_engine
from desktop.ml.backbones import build_feature_extractor, get_backbone, require_weights, weights_identity
from desktop.ml.onnx_engine import DIGEST_KEY, OnnxExtractor, load_onnx_extractor, onnx_file
from desktop.ml.onnx_rules import CONTROL_FLOW, UnsafeOnnx, check_onnx_model

SPEC = get_backbone("efficientnet_lite0")
FEATURES = 1280


@pytest.fixture(scope="module")
def lite0():
    weights = require_weights(SPEC.name)
    return build_feature_extractor(SPEC, weights)[0], weights_identity(weights)


def forget_this_process(monkeypatch: pytest.MonkeyPatch) -> None:
    """As a fresh process starts: nothing loaded, nothing trusted in memory."""
    for name, empty in (("_open_sessions", {}), ("_failed", set()), ("_loads", {}), ("_trusted", {})):
        monkeypatch.setattr(onnx_engine, name, empty)


@pytest.fixture(autouse=True)
def new_process(monkeypatch: pytest.MonkeyPatch) -> None:
    forget_this_process(monkeypatch)


def _self_attesting(graph: onnx.GraphProto) -> bytes:
    """A model carrying the digest of its own graph, as the old check wanted: anyone can compute it."""
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    digest = hashlib.blake2b(model.graph.SerializeToString(), digest_size=16).hexdigest()
    helper.set_model_props(model, {DIGEST_KEY: digest, "pigeonhole.backbone": SPEC.name})
    return model.SerializeToString()


def constant_graph() -> bytes:
    """Every photo gets the same features (so every photo lands in one class): images → 1280 constants."""
    size = SPEC.input_size
    return _self_attesting(helper.make_graph(
        [helper.make_node("GlobalAveragePool", ["images"], ["pooled"]),
         helper.make_node("Flatten", ["pooled"], ["flat"]),
         helper.make_node("MatMul", ["flat", "zeros"], ["nothing"]),
         helper.make_node("Add", ["nothing", "bias"], ["features"])],
        "constant", [helper.make_tensor_value_info("images", TensorProto.FLOAT, ["N", 3, size, size])],
        [helper.make_tensor_value_info("features", TensorProto.FLOAT, ["N", FEATURES])],
        [helper.make_tensor("zeros", TensorProto.FLOAT, [3, FEATURES], np.zeros(3 * FEATURES)),
         helper.make_tensor("bias", TensorProto.FLOAT, [FEATURES], np.full(FEATURES, 7.0))]))


def endless_graph() -> bytes:
    """A Loop with no trip count whose condition stays true: runs until terminated."""
    body = helper.make_graph(
        [helper.make_node("Identity", ["cond_in"], ["cond_out"]), helper.make_node("Add", ["v_in", "one"], ["v_out"])],
        "body",
        [helper.make_tensor_value_info("i", TensorProto.INT64, []),
         helper.make_tensor_value_info("cond_in", TensorProto.BOOL, []),
         helper.make_tensor_value_info("v_in", TensorProto.FLOAT, [])],
        [helper.make_tensor_value_info("cond_out", TensorProto.BOOL, []),
         helper.make_tensor_value_info("v_out", TensorProto.FLOAT, [])],
        [helper.make_tensor("one", TensorProto.FLOAT, [], [1.0])])
    size = SPEC.input_size
    return _self_attesting(helper.make_graph(
        [helper.make_node("ReduceSum", ["images"], ["start"], keepdims=0),
         helper.make_node("Loop", ["", "yes", "start"], ["features"], body=body)],
        "endless", [helper.make_tensor_value_info("images", TensorProto.FLOAT, ["N", 3, size, size])],
        [helper.make_tensor_value_info("features", TensorProto.FLOAT, [])],
        [helper.make_tensor("yes", TensorProto.BOOL, [], [True])]))


def _photos() -> np.ndarray:
    return np.random.default_rng(0).standard_normal((2, 3, SPEC.input_size, SPEC.input_size), dtype=np.float32)


def test_a_self_attesting_graph_in_the_cache_is_replaced_by_a_real_export(lite0, tmp_path) -> None:
    extractor, identity = lite0
    path = onnx_file(SPEC, identity, tmp_path)
    path.write_bytes(constant_graph())  # what the red team put there: the old check accepted it
    loaded = load_onnx_extractor(SPEC, identity, extractor, folder=tmp_path)
    assert loaded is not None
    features = loaded(_photos())
    assert features.shape == (2, FEATURES) and not np.allclose(features, 7.0), "the real network ran"
    assert path.read_bytes() != constant_graph()  # exported again over it


def test_a_forged_record_does_not_let_a_loop_run(lite0, tmp_path, isolated_data_dir, hang_guard) -> None:
    """Even an attacker who could also write the record gets no Loop run: the rules apply to every file."""
    extractor, identity = lite0
    path = onnx_file(SPEC, identity, tmp_path)
    path.write_bytes(endless_graph())
    isolated_data_dir.mkdir(parents=True, exist_ok=True)
    (isolated_data_dir / onnx_engine.TRUST_RECORD).write_text(json.dumps(
        {str(path): hashlib.blake2b(endless_graph(), digest_size=32).hexdigest()}))
    loaded = load_onnx_extractor(SPEC, identity, extractor, folder=tmp_path)
    assert loaded is not None and loaded(_photos()).shape == (2, FEATURES)
    check_onnx_model(path.read_bytes(), path.name, refused_ops=CONTROL_FLOW)  # what runs now obeys the rules


def test_a_later_process_reuses_the_export_through_the_record_kept_elsewhere(lite0, tmp_path, monkeypatch,
                                                                               isolated_data_dir) -> None:
    extractor, identity = lite0
    isolated_data_dir.mkdir(parents=True)  # the app made it (its first start); the record is never what does
    first = load_onnx_extractor(SPEC, identity, extractor, folder=tmp_path)
    assert first is not None
    assert str(first.path) in json.loads((isolated_data_dir / onnx_engine.TRUST_RECORD).read_text())
    forget_this_process(monkeypatch)
    monkeypatch.setattr(onnx_engine, "export_extractor", lambda *a: pytest.fail("exported again"))
    assert load_onnx_extractor(SPEC, identity, extractor, folder=tmp_path) is not None


@pytest.mark.parametrize("graph", [endless_graph, constant_graph])
def test_the_rules_for_cached_files(graph) -> None:
    data = graph()
    if graph is endless_graph:
        with pytest.raises(UnsafeOnnx, match="Loop operator, which can run without end"):
            check_onnx_model(data, "x.onnx", refused_ops=CONTROL_FLOW)
    else:
        check_onnx_model(data, "x.onnx", refused_ops=CONTROL_FLOW)  # plain arithmetic: only the record refuses it


def test_if_is_refused_in_a_cached_backbone() -> None:
    branch = helper.make_graph([helper.make_node("Identity", ["x"], ["y"])], "b", [],
                               [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])])
    graph = helper.make_graph([helper.make_node("If", ["c"], ["y"], then_branch=branch, else_branch=branch)], "g",
                              [helper.make_tensor_value_info("c", TensorProto.BOOL, []),
                               helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])])
    data = helper.make_model(graph).SerializeToString()
    check_onnx_model(data, "model.onnx")  # predict-file's rules allow If (it always ends)
    with pytest.raises(UnsafeOnnx, match="an If operator"):
        check_onnx_model(data, "model.onnx", refused_ops=CONTROL_FLOW)


def test_ctrl_c_ends_a_graph_that_never_ends(hang_guard) -> None:
    """Had such a graph got through, Ctrl+C must still end the command: the run waits in Python, which sees
    the KeyboardInterrupt, and terminates ONNX Runtime inside the graph."""
    engine = OnnxExtractor(onnx_engine.Path("endless.onnx"), endless_graph(), threads=1)
    timer = threading.Timer(0.3, os.kill, (os.getpid(), signal.SIGINT))
    timer.start()
    try:
        with pytest.raises(KeyboardInterrupt):
            engine(_photos()[:1])
    finally:
        timer.cancel()


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="named pipes are POSIX")
def test_a_named_pipe_as_a_feature_set_manifest_is_replaced_not_read(hang_guard) -> None:
    """The manifest of a feature set lives in the same cache: a pipe there blocked a plain read for ever."""
    from desktop.ml import backbones
    from desktop.paths import cache_dir

    name = next(spec.name for spec in backbones.available_backbones() if spec.members)
    path = cache_dir() / "feature-sets" / backbones.get_backbone(name).weights_file
    path.parent.mkdir(parents=True, exist_ok=True)
    path.unlink(missing_ok=True)
    os.mkfifo(path)
    try:
        assert backbones.feature_set_manifest(name) == path
        assert json.loads(path.read_text())["feature_set"] == name  # a regular file again
    finally:
        path.unlink(missing_ok=True)
