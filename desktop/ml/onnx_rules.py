"""What an ONNX file must be before ONNX Runtime may open it: the one set of rules for every ONNX file Pigeonhole
runs, a model given to `predict-file` and the backbone exports in the per-user cache alike.

A graph is data, but ONNX Runtime does more than compute with some of it: tensors whose bytes live in other files
(a path such as /etc/passwd or /dev/zero, read when the session starts), operators outside the standard set
(custom operators need a library of native code), and loops (``Loop``, ``Scan``: a graph without them always
finishes). Pigeonhole's own exports use none of these; a backbone export, a traced network, has no control flow at
all (``If`` is refused there too) and is at most ``MAX_BACKBONE_BYTES``.
"""

from __future__ import annotations

from desktop.errors import PigeonholeError

STANDARD_ONNX_DOMAINS = frozenset({"", "ai.onnx"})
ONNX_LOOPS = frozenset({"Loop", "Scan"})
CONTROL_FLOW = ONNX_LOOPS | {"If"}
MAX_BACKBONE_BYTES = 1 << 30  # the largest backbone's export (ConvNeXt) is a few hundred MB


class UnsafeOnnx(PigeonholeError):
    """The file breaks a rule (or is no ONNX model at all); ``str(error)`` says which, in one sentence."""


def check_onnx_model(data: bytes, name: str, *, refused_ops: frozenset[str] = ONNX_LOOPS) -> None:
    """Raise UnsafeOnnx unless ``data`` is an ONNX model with standard operators only, none of ``refused_ops``
    (in any subgraph or function), and every tensor inside the file."""
    import onnx

    try:
        model = onnx.ModelProto.FromString(data)
    except Exception as exc:  # protobuf's DecodeError, or its recursion limit on deeply nested messages
        raise UnsafeOnnx(f"{name} is not a model file Pigeonhole can run (not TorchScript, "
                         "not ONNX, not a Pigeonhole checkpoint).") from exc
    if not model.HasField("graph"):
        raise UnsafeOnnx(f"{name} is not a model file Pigeonhole can run (not TorchScript, "
                         "not ONNX, not a Pigeonhole checkpoint).")
    local_domains = {function.domain for function in model.functions}
    graphs = [model.graph, *(function for function in model.functions)]
    while graphs:
        graph = graphs.pop()
        tensors = [*getattr(graph, "initializer", ()),
                   *(t for sparse in getattr(graph, "sparse_initializer", ()) for t in (sparse.values, sparse.indices))]
        for node in graph.node:
            if node.domain not in STANDARD_ONNX_DOMAINS and node.domain not in local_domains:
                raise UnsafeOnnx(f"{name} was refused: it uses operators from “{node.domain}”, outside ONNX's "
                                 "standard set (custom operators run native code).")
            if node.domain in STANDARD_ONNX_DOMAINS and node.op_type in refused_ops:
                raise UnsafeOnnx(f"{name} was refused: it contains a{'n' if node.op_type == 'If' else ''} "
                                 f"{node.op_type} operator, which "
                                 + ("can run without end" if node.op_type in ONNX_LOOPS else "is control flow")
                                 + " (Pigeonhole's exports have none).")
            for attribute in node.attribute:
                tensors += [attribute.t, *attribute.tensors]
                tensors += [t for sparse in (attribute.sparse_tensor, *attribute.sparse_tensors)
                            for t in (sparse.values, sparse.indices)]
                graphs += [attribute.g, *attribute.graphs] if attribute.HasField("g") else [*attribute.graphs]
        if any(t.data_location == onnx.TensorProto.EXTERNAL or len(t.external_data) for t in tensors):
            raise UnsafeOnnx(f"{name} was refused: it reads tensor data from other files, which Pigeonhole "
                             "does not allow (export with the data inside the file).")
