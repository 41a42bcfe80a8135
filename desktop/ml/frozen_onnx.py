"""A frozen model's ONNX export without torch: the backbone's ONNX graph with the preprocessing and the head
written around it in ONNX operators, built with the ``onnx`` package (in both builds; a fine-tuned model is
exported by torch, ``torch_export``).

The file is the one ``export`` describes (uint8 (N, H, W, 3) of any size in, "probabilities" (N, C) out, the
label map in the metadata), opset 18 (the first with an antialiased Resize):

    preprocessing   the shorter side resized to ``resize_size``, the longer one truncated (integer arithmetic on
                    the input's shape), width first, then height, each pass rounded to 0-255 as Pillow does
                    (``Resize`` with antialias, ``exclude_outside`` and Pillow's cubic coefficient -0.5), the
                    centre crop anchored as torchvision anchors it, scaled by 1/255, normalised
    backbone        the shipped (or exported) ONNX file of the model's pretrained weights, its "features" only,
                    converted to opset 18
    head            Gemm with the model's weights (temperature folded in), then Softmax

The same probabilities as the app's predictor within ``EXPORT_TOLERANCE``: the app resizes with Pillow's
fixed-point filter, ONNX Runtime in floating point, so a pixel may differ by one 8-bit level
(tests/torchfree/test_frozen_onnx_export.py, tests/ml/test_export.py).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from desktop.ml.export_format import INPUT_NAME, ONNX_OPSET, OUTPUT_NAME, stamp_labels

if TYPE_CHECKING:
    from desktop.ml.predict import HeadPredictor

EXPORT_TOLERANCE = 5e-3  # largest gap allowed to the app's probabilities on real photos (measured 3e-4)
_PREFIX = "backbone/"
_MODES = {"bilinear": "linear", "bicubic": "cubic"}
PILLOW_CUBIC_A = -0.5  # Pillow's (and torchvision's antialiased) bicubic kernel; ONNX's default is -0.75


def frozen_model_onnx(predictor: HeadPredictor, backbone: bytes, labels: dict[str, Any]) -> bytes:
    """The exported file (bytes) of the frozen model ``predictor`` on the backbone ONNX file ``backbone``."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    spec = predictor.spec
    network = _backbone_graph(backbone)
    constants = {
        "pre/resize": np.array([spec.resize_size], np.int64),
        "pre/crop": np.array([spec.input_size, spec.input_size], np.int64),
        "pre/crop_side": np.array([spec.input_size], np.int64),
        "pre/axes": np.array([2, 3], np.int64),
        "pre/two": np.array([2], np.int64),
        "pre/zero": np.array(0.0, np.float32),
        "pre/max": np.array(255.0, np.float32),
        "pre/scale": np.array(1.0 / 255.0, np.float32),
        "pre/mean": np.asarray(spec.mean, np.float32).reshape(1, 3, 1, 1),
        "pre/std": np.asarray(spec.std, np.float32).reshape(1, 3, 1, 1),
        "head/weight": np.asarray(predictor.weight, np.float32),
        "head/bias": np.asarray(predictor.bias, np.float32),
    }
    resize = {"mode": _MODES[spec.interpolation], "antialias": 1, "exclude_outside": 1,
              "cubic_coeff_a": PILLOW_CUBIC_A, "coordinate_transformation_mode": "half_pixel"}
    node = helper.make_node
    nodes = [
        node("Transpose", [INPUT_NAME], ["pre/nchw8"], perm=[0, 3, 1, 2]),
        node("Cast", ["pre/nchw8"], ["pre/nchw"], to=TensorProto.FLOAT),
        node("Shape", ["pre/nchw"], ["pre/height"], start=2, end=3),
        node("Shape", ["pre/nchw"], ["pre/width"], start=3, end=4),
        # torchvision's Resize(int): the shorter side becomes resize_size, the longer int(resize * long / short).
        node("Min", ["pre/height", "pre/width"], ["pre/short"]),
        node("Mul", ["pre/height", "pre/resize"], ["pre/height_scaled"]),
        node("Div", ["pre/height_scaled", "pre/short"], ["pre/new_height"]),
        node("Mul", ["pre/width", "pre/resize"], ["pre/width_scaled"]),
        node("Div", ["pre/width_scaled", "pre/short"], ["pre/new_width"]),
        # Pillow resizes width first, then height, rounding each pass to 0-255.
        node("Resize", ["pre/nchw", "", "", "pre/new_width"], ["pre/wide"], axes=[3], **resize),
        node("Clip", ["pre/wide", "pre/zero", "pre/max"], ["pre/wide_clipped"]),
        node("Round", ["pre/wide_clipped"], ["pre/wide_rounded"]),
        node("Resize", ["pre/wide_rounded", "", "", "pre/new_height"], ["pre/resized"], axes=[2], **resize),
        node("Clip", ["pre/resized", "pre/zero", "pre/max"], ["pre/resized_clipped"]),
        node("Round", ["pre/resized_clipped"], ["pre/resized_rounded"]),
        *_centre_offset("top", "pre/new_height"),
        *_centre_offset("left", "pre/new_width"),
        node("Concat", ["pre/top", "pre/left"], ["pre/starts"], axis=0),
        node("Add", ["pre/starts", "pre/crop"], ["pre/ends"]),
        node("Slice", ["pre/resized_rounded", "pre/starts", "pre/ends", "pre/axes"], ["pre/cropped"]),
        node("Mul", ["pre/cropped", "pre/scale"], ["pre/scaled"]),
        node("Sub", ["pre/scaled", "pre/mean"], ["pre/centred"]),
        node("Div", ["pre/centred", "pre/std"], [_PREFIX + "images"]),
        *network.node,
        node("Gemm", [_PREFIX + "features", "head/weight", "head/bias"], ["head/logits"], transB=1),
        node("Softmax", ["head/logits"], [OUTPUT_NAME], axis=1),
    ]
    graph = helper.make_graph(
        nodes, "pigeonhole_classifier",
        [helper.make_tensor_value_info(INPUT_NAME, TensorProto.UINT8, ["batch", "height", "width", 3])],
        [helper.make_tensor_value_info(OUTPUT_NAME, TensorProto.FLOAT, ["batch", len(predictor.class_names)])],
        initializer=[*(numpy_helper.from_array(value, name) for name, value in constants.items()),
                     *network.initializer])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", ONNX_OPSET)],
                              producer_name="pigeonhole")
    model.ir_version = max(8, min(model.ir_version, 10))  # opset 18 needs IR 8; ONNX Runtime reads up to 10
    stamp_labels(model, labels)
    onnx.checker.check_model(model)
    return model.SerializeToString()


def _centre_offset(name: str, size: str) -> list:
    """Nodes computing ``int(round((size - crop) / 2))`` with round-half-to-even (torchvision's centre crop):
    half + 1 exactly when the excess is odd and its half is odd."""
    from onnx import helper

    node, excess, half = helper.make_node, f"pre/{name}_excess", f"pre/{name}_half"
    return [
        node("Sub", [size, "pre/crop_side"], [excess]),
        node("Div", [excess, "pre/two"], [half]),
        node("Mod", [half, "pre/two"], [f"{half}_odd"]),
        node("Mod", [excess, "pre/two"], [f"{excess}_odd"]),
        node("Mul", [f"{half}_odd", f"{excess}_odd"], [f"pre/{name}_shift"]),
        node("Add", [half, f"pre/{name}_shift"], [f"pre/{name}"]),
    ]


def _backbone_graph(data: bytes):
    """The backbone's graph with its "features" output only, at the export's opset, every name prefixed."""
    import onnx
    from onnx import compose, version_converter

    model = onnx.load_from_string(data)
    model = onnx.utils.Extractor(model).extract_model(["images"], ["features"])
    model = version_converter.convert_version(model, ONNX_OPSET)
    return compose.add_prefix(model, _PREFIX).graph
