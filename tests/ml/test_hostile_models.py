"""Model files from strangers: nothing in them runs code, reads other files, hangs, or gives more than a sentence.

Tiny hand-built ONNX graphs and TorchScript modules stand in for real exports (building those takes minutes);
the loader sees the same kinds of files. Every hostile file is checked to be live where that is cheap: the
payload does what it says when run the unsafe way, so the refusal is what stops it.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import signal
import stat
import subprocess
import sys
import threading
import zipfile
from collections.abc import Iterator
from pathlib import Path

import imagemakers
import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from desktop.cli import main
from desktop.errors import PigeonholeError
from desktop.ml import export as export_module
from desktop.ml.checkpoint import CheckpointError, checkpoint_bytes, load_checkpoint, new_checkpoint
from desktop.ml.export import ExportError, UntrustedCode, labels_path_for, load_exported
from desktop.ml.predict import NonFiniteScores

pytestmark = [pytest.mark.filterwarnings("ignore:.*torch.jit.*:FutureWarning"),
              pytest.mark.filterwarnings("ignore::UserWarning")]
posix_only = pytest.mark.skipif(sys.platform == "win32", reason="FIFOs and /dev/zero are POSIX")


# --- tiny model files -----------------------------------------------------------------------------------------

def tiny_onnx(class_names=("cat", "dog"), *, scale: float = 1.0, metadata: bool = True, extra_nodes=(),
              extra_initializers=(), extra_outputs=()) -> bytes:
    """uint8 (N, H, W, 3) → softmax of the mean of the first two colour channels × ``scale``: (N, 2)."""
    from onnx import TensorProto, helper, numpy_helper

    nodes = [helper.make_node("Cast", ["images"], ["pixels"], to=TensorProto.FLOAT),
             helper.make_node("ReduceMean", ["pixels", "axes"], ["means"], keepdims=0),
             helper.make_node("Slice", ["means", "starts", "ends", "slice_axes"], ["two"]),
             helper.make_node("Mul", ["two", "scale"], ["scores"]),
             helper.make_node("Softmax", ["scores"], ["probabilities"], axis=1), *extra_nodes]
    constants = {"axes": np.array([1, 2]), "starts": np.array([0]), "ends": np.array([2]),
                 "slice_axes": np.array([1])}
    initializers = [*(numpy_helper.from_array(v.astype(np.int64), k) for k, v in constants.items()),
                    numpy_helper.from_array(np.array(scale, np.float32), "scale"), *extra_initializers]
    graph = helper.make_graph(
        nodes, "tiny", [helper.make_tensor_value_info("images", TensorProto.UINT8, ["N", "H", "W", 3])],
        [helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, ["N", 2]), *extra_outputs], initializers)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    model.ir_version = 9
    if metadata:
        helper.set_model_props(model, {"pigeonhole.labels": json.dumps({"class_names": list(class_names)})})
    return model.SerializeToString()


class OverwritesAFile(torch.nn.Module):
    """A 'classifier' whose forward overwrites the start of any file it likes (a shared memory map of it)."""

    def __init__(self, target: str) -> None:
        super().__init__()
        self.target = target
        self.class_names = ["cat", "dog"]

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        victim = torch.from_file(self.target, shared=True, size=5, dtype=torch.uint8)
        victim.fill_(33)
        # Using the mapped bytes keeps the scripting compiler from removing the write as dead code.
        return torch.full((images.size(0), 2), 0.5) + 0.0 * victim[0].float()


class Fails(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.class_names = ["cat", "dog"]

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return images.float().view(-1, 7, 5)  # a shape error deep in the interpreter: a long TorchScript trace


class LoopsForever(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.class_names = ["cat", "dog"]

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        print("looping")
        x = torch.zeros(1)
        while bool(x[0] > -1.0):  # x grows to infinity, which is still > -1
            x = x + 1.0
        return torch.full((images.size(0), 2), 0.5)


def script(module: torch.nn.Module, path: Path) -> Path:
    torch.jit.save(torch.jit.script(module), str(path))
    return path


@pytest.fixture(scope="module")
def photo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("photo") / "photo.jpg"
    imagemakers.write_jpeg(path, 64, 48)
    return path


@pytest.fixture
def fails_instead_of_hanging(tmp_path: Path) -> Iterator[None]:
    """A regression here blocks in open() on a FIFO, maybe inside native code (torch, ONNX Runtime) where no
    signal reaches Python. So after a while a writer connects to every FIFO under ``tmp_path`` and leaves at
    once: a blocked reader gets an end of file and the test fails instead of hanging (a safety net, not a
    timing test; a correct loader never waits, so the writer finds no reader)."""
    done = threading.Event()

    def connect_writers() -> None:
        if done.wait(20):
            return
        while not done.is_set():
            for path in tmp_path.rglob("*"):
                if stat.S_ISFIFO(os.lstat(path).st_mode):
                    with contextlib.suppress(OSError):  # ENXIO: nobody is reading it
                        os.close(os.open(path, os.O_WRONLY | os.O_NONBLOCK))
            done.wait(0.5)

    writer = threading.Thread(target=connect_writers, daemon=True)
    writer.start()
    try:
        yield
    finally:
        done.set()
        writer.join()


def predict_file(capsys, *args: str) -> tuple[int, str, str]:
    code = main(["predict-file", *map(str, args)])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def one_sentence(err: str) -> str:
    assert err.startswith("pigeonhole: error: ") and err.count("\n") == 1 and "Traceback" not in err, err
    return err


# --- TorchScript: a program, run only with --trust-code -------------------------------------------------------

@pytest.mark.parametrize("name", ["model.pt", "model.onnx"])  # recognised by content, whatever its name
def test_torchscript_is_refused_without_trust_code_and_runs_nothing(tmp_path, photo, capsys, name):
    victim = tmp_path / "holiday.jpg"
    victim.write_bytes(photo.read_bytes())
    model = script(OverwritesAFile(str(victim)), tmp_path / name)
    code, out, err = predict_file(capsys, model, photo)
    assert code == 1 and out == ""
    assert "TorchScript files are programs that can run any code" in one_sentence(err)
    assert "--trust-code" in err
    assert victim.read_bytes() == photo.read_bytes()
    with pytest.raises(UntrustedCode):
        load_exported(model)
    # The payload is live: trusted, it does overwrite the photo.
    assert predict_file(capsys, model, photo, "--trust-code")[0] == 0
    assert victim.read_bytes()[:5] == b"!!!!!"


def test_a_failing_or_damaged_trusted_torchscript_is_one_sentence(tmp_path, photo, capsys):
    failing = script(Fails(), tmp_path / "fails.pt")
    code, _, err = predict_file(capsys, failing, photo, "--trust-code")
    assert code == 1 and "fails.pt failed while running (" in one_sentence(err)

    damaged = tmp_path / "damaged.pt"
    with zipfile.ZipFile(failing) as source, zipfile.ZipFile(damaged, "w") as target:
        for entry in source.infolist():
            data = source.read(entry)
            target.writestr(entry, b"def forward(self):\n  ]]] not python" if entry.filename.endswith(".py")
                            else data)
    code, _, err = predict_file(capsys, damaged, photo, "--trust-code")
    assert code == 1 and "damaged.pt is damaged or not a TorchScript model" in one_sentence(err)


@posix_only
def test_ctrl_c_stops_a_trusted_endless_loop(tmp_path, photo):
    """The loop never returns to Python, so a KeyboardInterrupt would wait for ever: Ctrl+C must end the process."""
    model = script(LoopsForever(), tmp_path / "loop.pt")
    runner = "import sys; from desktop.cli import main; sys.exit(main(sys.argv[1:]))"
    process = subprocess.Popen([sys.executable, "-c", runner, "predict-file", str(model), str(photo), "--trust-code"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=Path(__file__).parents[2],
                               env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        assert process.stdout.readline() == b"looping\n"  # inside the loop now
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=120) == -signal.SIGINT  # the timeout is a safety net, not a measurement
    finally:
        process.kill()
        process.wait()


# --- ONNX: standard operators only, every byte inside the file ------------------------------------------------

def test_a_plain_onnx_file_runs(tmp_path, photo, capsys):
    model = tmp_path / "tiny.onnx"
    model.write_bytes(tiny_onnx())
    code, out, _ = predict_file(capsys, model, photo, "--json")
    assert code == 0 and json.loads(out)["images"][0]["probabilities"].keys() == {"cat", "dog"}


def _external_data_model(location: str) -> bytes:
    """Outputs, besides its scores, 16 bytes of whatever file ``location`` names (read when the session starts)."""
    from onnx import TensorProto, helper

    leak = TensorProto(name="leak", data_type=TensorProto.UINT8, dims=[16], data_location=TensorProto.EXTERNAL)
    for key, value in (("location", location), ("offset", "0"), ("length", "16")):
        leak.external_data.add(key=key, value=value)
    return tiny_onnx(extra_nodes=[helper.make_node("Identity", ["leak"], ["leaked"])], extra_initializers=[leak],
                     extra_outputs=[helper.make_tensor_value_info("leaked", TensorProto.UINT8, [16])])


def test_onnx_that_reads_other_files_is_refused(tmp_path, photo, capsys):
    import onnxruntime

    secret = tmp_path / "secret.txt"
    secret.write_bytes(b"my private notes")
    model = tmp_path / "leaky.onnx"
    model.write_bytes(_external_data_model(secret.name))
    # Live: ONNX Runtime reads the neighbouring file into the model's output.
    session = onnxruntime.InferenceSession(str(model), providers=["CPUExecutionProvider"])
    assert bytes(session.run(None, {"images": np.zeros((1, 4, 4, 3), np.uint8)})[1]) == b"my private notes"
    for location in (secret.name, "/etc/passwd", "/dev/zero"):
        model.write_bytes(_external_data_model(location))
        code, out, err = predict_file(capsys, model, photo)
        assert code == 1 and out == ""
        assert "reads tensor data from other files" in one_sentence(err)


def test_onnx_with_custom_operators_or_loops_is_refused(tmp_path, photo, capsys):
    from onnx import TensorProto, helper

    custom = helper.make_node("Pwn", ["images"], ["pwned"], domain="com.example.native")
    body = helper.make_graph([helper.make_node("Identity", ["cond_in"], ["cond_out"])], "body",
                             [helper.make_tensor_value_info("i", TensorProto.INT64, []),
                              helper.make_tensor_value_info("cond_in", TensorProto.BOOL, [])],
                             [helper.make_tensor_value_info("cond_out", TensorProto.BOOL, [])])
    loop = helper.make_node("Loop", ["", "forever"], [], body=body)
    forever = helper.make_tensor("forever", TensorProto.BOOL, [], [True])
    for name, nodes, initializers, message in (
            ("custom.onnx", [custom], [], "operators from “com.example.native”"),
            ("loop.onnx", [loop], [forever], "contains a Loop operator")):
        model = tmp_path / name
        model.write_bytes(tiny_onnx(extra_nodes=nodes, extra_initializers=initializers))
        code, _, err = predict_file(capsys, model, photo)
        assert code == 1 and message in one_sentence(err)


def test_model_files_above_the_size_cap_are_not_read(tmp_path, photo, capsys, monkeypatch):
    model = tmp_path / "tiny.onnx"
    model.write_bytes(tiny_onnx())
    monkeypatch.setattr(export_module, "MAX_MODEL_BYTES", model.stat().st_size - 1)
    code, _, err = predict_file(capsys, model, photo)
    assert code == 1 and "tiny.onnx: refused: the file is" in one_sentence(err) and "limit" in err


def test_non_finite_scores_are_said_once(tmp_path, photo, capsys):
    model = tmp_path / "nan.onnx"
    model.write_bytes(tiny_onnx(scale=float("nan")))
    code, out, err = predict_file(capsys, model, photo, photo, "--json")
    assert code == 1 and out == ""
    assert "The model nan.onnx produced non-finite scores" in one_sentence(err)
    with pytest.raises(NonFiniteScores):
        load_exported(model).predict_array(np.zeros((8, 8, 3), np.uint8))


def test_class_names_cannot_drive_the_terminal(tmp_path, photo, capsys):
    hostile = "\x1b]0;owned\x07\x1b[2Jcat"
    model = tmp_path / "names.onnx"
    model.write_bytes(tiny_onnx(class_names=(hostile, "dog\x1b[31m")))
    code, out, _ = predict_file(capsys, model, photo)
    assert code == 0 and "\x1b" not in out and "\x07" not in out
    assert "\\x1b]0;owned\\x07" in out or "dog\\x1b[31m" in out
    code, out, _ = predict_file(capsys, model, photo, "--json")
    assert json.loads(out)["classes"] == [hostile, "dog\x1b[31m"]  # JSON keeps the names (escaped by json)


# --- what is read: regular files only, capped; label maps of the right shape -----------------------------------

@posix_only
@pytest.mark.parametrize("what", ["model", "image", "labels"])
@pytest.mark.parametrize("kind", ["fifo", "dev-zero"])
def test_pipes_and_devices_are_refused_without_blocking(tmp_path, photo, capsys, fails_instead_of_hanging,
                                                        what, kind):
    model = tmp_path / "tiny.onnx"
    model.write_bytes(tiny_onnx(metadata=what != "labels"))  # without a label map inside, the sidecar is read
    target = {"model": model, "image": tmp_path / "photo.jpg", "labels": labels_path_for(model)}[what]
    target.unlink(missing_ok=True)
    if kind == "fifo":
        os.mkfifo(target)  # nobody writes: a plain open() would wait for ever
    else:
        target.symlink_to("/dev/zero")  # a plain read() would never end
    code, out, err = predict_file(capsys, model, target if what == "image" else photo)
    assert code == 1
    if what == "image":  # one unreadable image: reported, the others go on
        assert "cannot be read" in out and ("named pipe" in out or "device" in out)
    else:
        assert "not a regular file" in one_sentence(err)


@posix_only
@pytest.mark.parametrize("kind", ["fifo", "dev-zero"])
def test_a_pipe_or_device_as_a_project_model_file_is_refused_without_blocking(tmp_path, fails_instead_of_hanging,
                                                                             kind):
    path = tmp_path / "model.pt"
    if kind == "fifo":
        os.mkfifo(path)
    else:
        path.symlink_to("/dev/zero")
    with pytest.raises(CheckpointError, match="not a regular file"):
        load_checkpoint(path)


@pytest.mark.parametrize("sidecar, message", [
    ("[" * 100_000 + "]" * 100_000, "nested too deeply"),
    ('{"class_names": ' + "[" * 50_000 + "]" * 50_000 + "}", "nested too deeply"),
    ("{not json", "not valid JSON"),
    ('{"class_names": "cat"}', "“class_names”"),
    ('{"class_names": ["cat", 7]}', "“class_names”"),
    ('{"class_names": ["cat", "dog"], "resize_size": "huge"}', "“resize_size”"),
    ('{"class_names": ["cat", "dog"], "resize_size": 10000000}', "“resize_size”"),
])
def test_a_hostile_labels_file_is_one_sentence(tmp_path, photo, capsys, sidecar, message):
    model = tmp_path / "tiny.onnx"
    model.write_bytes(tiny_onnx(metadata=False))
    labels_path_for(model).write_text(sidecar)
    code, _, err = predict_file(capsys, model, photo)
    assert code == 1 and message in one_sentence(err)


def test_a_hostile_label_map_inside_the_file_is_one_sentence(tmp_path):
    from onnx import ModelProto, helper

    proto = ModelProto.FromString(tiny_onnx(metadata=False))
    helper.set_model_props(proto, {"pigeonhole.labels": "[" * 100_000 + "]" * 100_000})
    model = tmp_path / "deep.onnx"
    model.write_bytes(proto.SerializeToString())
    with pytest.raises(ExportError, match=r"label map inside deep\.onnx was refused: it is nested too deeply"):
        load_exported(model)


def test_a_big_labels_file_is_not_read(tmp_path, monkeypatch):
    model = tmp_path / "tiny.onnx"
    model.write_bytes(tiny_onnx(metadata=False))
    labels_path_for(model).write_text(json.dumps({"class_names": ["cat", "dog"], "padding": "x" * 5000}))
    assert load_exported(model).class_names == ["cat", "dog"]
    monkeypatch.setattr(export_module, "MAX_LABELS_BYTES", 1000)
    with pytest.raises(ExportError, match=r"tiny\.labels\.json: refused: the file is .* limit"):
        load_exported(model)


# --- property tests: damaged files of every kind are refused with a sentence -----------------------------------

FUZZ = settings(max_examples=60, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


@pytest.fixture(scope="module")
def checkpoint_file() -> bytes:
    """A real (small) checkpoint in torch.save's format: a head on a 4-feature 'backbone'."""
    return checkpoint_bytes(new_checkpoint(
        backbone="efficientnet_lite0", weights={"source": "bundled", "file": "w.pth", "identity": None},
        class_names=["cat", "dog"], input_size=224, resize_size=256, interpolation="bicubic",
        mean=[0.5, 0.5, 0.5], std=[0.5, 0.5, 0.5], head={"in_features": 4, "num_classes": 2, "dropout": 0.0},
        mode="finetune", feature_key=None,
        state_dict={"head.linear.weight": np.random.default_rng(0).standard_normal((2, 4), np.float32),
                    "head.linear.bias": np.zeros(2, np.float32)},
        metrics={"accuracy": 0.5}, training={"history": [{"epoch": 1, "loss": 0.7}]}))


def _loads_or_refuses(data: bytes) -> None:
    try:
        load_checkpoint(data)
    except CheckpointError as exc:
        assert "\n" not in str(exc)


@FUZZ
@given(st.data())
def test_damaged_checkpoint_bytes_are_refused_with_a_sentence(checkpoint_file, data):
    blob = bytearray(checkpoint_file)
    cut = data.draw(st.integers(0, len(blob)), label="truncate at")
    for _ in range(data.draw(st.integers(0, 6), label="flips")):
        position = data.draw(st.integers(0, len(blob) - 1))
        blob[position] = data.draw(st.integers(0, 255))
    _loads_or_refuses(bytes(blob[:cut] if data.draw(st.booleans(), label="truncate") else blob))


@FUZZ
@given(st.data())
def test_damaged_pickles_inside_a_valid_archive_are_refused_with_a_sentence(checkpoint_file, data):
    """Past the zip's checksums: the unpickler and validation see the damaged description itself."""
    with zipfile.ZipFile(io.BytesIO(checkpoint_file)) as archive:
        entries = [(entry.filename, archive.read(entry)) for entry in archive.infolist()]
    name, pickled = next((n, d) for n, d in entries if n.endswith("data.pkl"))
    pickled = bytearray(pickled)
    for _ in range(data.draw(st.integers(1, 4), label="flips")):
        position = data.draw(st.integers(0, len(pickled) - 1))
        pickled[position] = data.draw(st.integers(0, 255))
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for entry, content in entries:
            archive.writestr(entry, bytes(pickled) if entry == name else content)
    _loads_or_refuses(buffer.getvalue())


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12)


@pytest.fixture(scope="module")
def model_without_labels(tmp_path_factory: pytest.TempPathFactory) -> Path:
    model = tmp_path_factory.mktemp("fuzz") / "tiny.onnx"
    model.write_bytes(tiny_onnx(metadata=False))
    return model


@FUZZ
@given(content=st.one_of(
    _json.map(json.dumps),
    st.fixed_dictionaries({"class_names": st.lists(_json, max_size=4)},
                          optional={"resize_size": _json}).map(json.dumps),
    st.binary(max_size=64).map(lambda b: b.decode("latin-1"))))
def test_any_labels_file_loads_or_is_refused_with_a_sentence(model_without_labels, content):
    labels_path_for(model_without_labels).write_text(content, encoding="utf-8", errors="surrogatepass")
    try:
        model = load_exported(model_without_labels)
    except PigeonholeError as exc:
        assert "\n" not in str(exc)
    else:
        assert len(model.class_names) >= 2 and all(isinstance(n, str) and n for n in model.class_names)


# --- the GUI's "Import weights file…": the same rules ----------------------------------------------------------

@posix_only
def test_importing_a_pipe_as_weights_is_refused_without_blocking(tmp_path, fails_instead_of_hanging):
    from desktop.ml.backbones import WeightsError, import_weights_file

    fifo = tmp_path / "resnet18.pth"
    os.mkfifo(fifo)
    with pytest.raises(WeightsError, match="not a regular file"):
        import_weights_file("resnet18", fifo)


def test_importing_a_zip_bomb_as_weights_is_refused(tmp_path, monkeypatch):
    from desktop.ml import checkpoint as checkpoint_module
    from desktop.ml.backbones import WeightsError, read_state_dict

    bomb = tmp_path / "weights.pth"
    torch.save({"fc.weight": torch.zeros(1 << 20)}, bomb)  # 4 MB of zeros, deflated to a few KB below
    with zipfile.ZipFile(bomb) as archive:
        entries = [(entry.filename, archive.read(entry)) for entry in archive.infolist()]
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, content in entries:
            archive.writestr(name, content)
    assert read_state_dict(bomb)["fc.weight"].numel() == 1 << 20  # torch would unpack it
    monkeypatch.setattr(checkpoint_module, "MAX_UNPACKED_BYTES", 1 << 21)
    with pytest.raises(WeightsError, match="zip bomb"):
        read_state_dict(bomb)
