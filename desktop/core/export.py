"""Taking a project's work elsewhere: labelled photos as an ImageFolder tree, a CSV, the active model.

- ``export_imagefolder`` copies every labelled photo to ``<out>/<class>/<file>`` (or ``<out>/train|val/<class>/``
  following each photo's stored split; photos never used for training go to ``train``). Originals are only
  read; nothing in the destination is ever overwritten: a taken name becomes ``name (2).jpg``.

Where an export writes is checked first (``_Destinations``): never into a folder of the project's photos (an
indexed folder or one inside it) or into the project itself, so no export can put a file among, or over, the
photos. A CSV or model file that already exists is replaced only with ``force``, and only when it is one of
this project's earlier exports, unchanged since (``export_record``): never a photo, of this project (a link
from elsewhere, say) or any other, nor any other file; the model's ``.labels.json`` follows the same rules.
- ``export_csv`` writes one row per usable photo: absolute path, label, the active model's prediction,
  confidence and one probability column per class. Predictions are the stored ones (made on the file's
  current content); photos not predicted yet have empty prediction cells.
- ``export_model`` writes the active model as TorchScript or ONNX, with ``<name>.labels.json`` beside it
  (``desktop.ml.export``; torch is imported only then).
"""

from __future__ import annotations

import csv
import io
import os
import secrets
import sys
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import select

from desktop.core.export_record import ExportRecord
from desktop.core.models_registry import active_model
from desktop.core.project import Project
from desktop.db.models import Folder, Image, ImageClass, Label, Prediction
from desktop.db.queries import BY_PATH, IMAGE_PATH, current_prediction, with_folder
from desktop.errors import Cancelled, PigeonholeError
from desktop.io.companions import FolderListings, sidecars_of
from desktop.io.file_names import name_key, numbered, safe_folder_name
from desktop.io.safe_files import (
    TEMP_PREFIX,
    SourceError,
    atomic_create,
    atomic_write,
    copy_file,
    copy_times,
    publish,
    remove_leftover,
)

WHAT = ("imagefolder", "csv", "torchscript", "onnx")
MODEL_FORMATS = ("torchscript", "onnx")
TRAIN, VAL = "train", "val"
MAX_RENAMES = 1000


class ExportFailed(PigeonholeError):
    """An export cannot be done; ``str(error)`` is one sentence for the user."""


class NoActiveModel(ExportFailed):
    pass


class DestinationError(ExportFailed):
    """The destination cannot be created or written."""


@dataclass(frozen=True)
class ImageFolderExport:
    out_dir: Path
    copied: int
    per_class: dict[str, int]
    per_split: dict[str, int]  # empty without split folders
    renamed: int  # copies that got a "(n)" name because theirs was taken
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (absolute path, reason)

    def as_json(self) -> dict[str, Any]:
        return {"what": "imagefolder", "out": str(self.out_dir), "copied": self.copied, "per_class": self.per_class,
                "per_split": self.per_split, "renamed": self.renamed,
                "skipped": [{"path": path, "reason": reason} for path, reason in self.skipped]}


@dataclass(frozen=True)
class CsvExport:
    path: Path
    rows: int
    predicted: int  # rows with a current prediction of the active model
    model_id: int | None
    class_names: list[str]  # the probability columns, in order

    def as_json(self) -> dict[str, Any]:
        return {"what": "csv", "out": str(self.path), "rows": self.rows, "predicted": self.predicted,
                "model_id": self.model_id, "classes": self.class_names}


@dataclass(frozen=True)
class ModelExport:
    path: Path
    labels: Path
    format: str
    model_id: int
    class_names: list[str]

    def as_json(self) -> dict[str, Any]:
        return {"what": self.format, "out": str(self.path), "labels": str(self.labels), "model_id": self.model_id,
                "classes": self.class_names}


# --- labelled photos as class folders -------------------------------------------------------------------------

def export_imagefolder(project: Project, out_dir: Path | str, split_folders: bool = False, *,
                       on_progress: Callable[[int, int], None] | None = None,
                       cancel: Any = None) -> ImageFolderExport:
    """Copy the labelled photos into class folders; ``on_progress(done, total)``; raises Cancelled when
    ``cancel.is_set()`` (copies made so far stay), DestinationError when the destination is not writable."""
    destinations = _Destinations(project)
    out_dir = Path(out_dir).expanduser().absolute()
    destinations.check_folder(out_dir)
    out_dir = _ready_folder(out_dir)
    with project.sessions() as session:
        rows = session.execute(
            with_folder(select(IMAGE_PATH, Image.split, Image.error, Image.missing, ImageClass.name)
                        .select_from(Image))
            .join(Label, Label.image_id == Image.id)
            .join(ImageClass, ImageClass.id == Label.class_id)
            .order_by(ImageClass.position, ImageClass.name, *BY_PATH)
        ).all()
    folder_names = _class_folder_names(sorted({row.name for row in rows}))
    # Every folder the copies will go to, checked before the first copy: out/cats may itself be a photo folder.
    for directory in _class_folders(out_dir, rows, folder_names, split_folders):
        destinations.check_folder(directory)
    taken: dict[Path, set[str]] = {}
    per_class: Counter[str] = Counter()
    per_split: Counter[str] = Counter()
    skipped: list[tuple[str, str]] = []
    renamed = 0
    listings = FolderListings()  # each folder listed once, not once per photo
    for done, row in enumerate(rows):
        if cancel is not None and cancel.is_set():
            raise Cancelled()
        source = row.path
        if row.missing or row.error:
            skipped.append((str(source), "the file is missing" if row.missing else row.error))
            continue
        split = (VAL if row.split == VAL else TRAIN) if split_folders else None
        directory = out_dir / split / folder_names[row.name] if split else out_dir / folder_names[row.name]
        sidecars = sidecars_of(source, listings.near(source))
        try:
            target = _copy_new(source, directory, taken, [path.name[len(source.stem):] for path in sidecars])
        except _SourceError as exc:
            skipped.append((str(source), str(exc)))
            continue
        skipped.extend(_copy_sidecars(source, sidecars, target))
        renamed += target.name != source.name
        per_class[row.name] += 1
        if split:
            per_split[split] += 1
        if on_progress is not None:
            on_progress(done + 1, len(rows))
    return ImageFolderExport(out_dir, sum(per_class.values()), dict(per_class), dict(per_split), renamed, skipped)


def _class_folders(out_dir: Path, rows, folder_names: dict[str, str], split_folders: bool) -> set[Path]:
    if not split_folders:
        return {out_dir / folder_names[row.name] for row in rows}
    return {out_dir / (VAL if row.split == VAL else TRAIN) / folder_names[row.name] for row in rows}


class _SourceError(Exception):
    """The photo cannot be read; the export goes on without it."""


def _ready_folder(out_dir: Path) -> Path:
    if out_dir.exists() and not out_dir.is_dir():
        raise DestinationError(f"{out_dir} is a file, not a folder.")
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DestinationError(f"Cannot create the folder {out_dir}: {_why(exc)}.") from exc
    if not os.access(out_dir, os.W_OK | os.X_OK):
        raise DestinationError(f"The folder {out_dir} is not writable.")
    return out_dir


def _class_folder_names(class_names: list[str]) -> dict[str, str]:
    """A folder name per class, safe on every common file system and distinct even ignoring case."""
    result: dict[str, str] = {}
    used: set[str] = set()
    for class_name in class_names:
        base = safe_folder_name(class_name)
        name, number = base, 1
        while name_key(name) in used:
            number += 1
            name = f"{base} ({number})"
        used.add(name_key(name))
        result[class_name] = name
    return result


def _copy_sidecars(source: Path, sidecars: list[Path], target: Path) -> list[tuple[str, str]]:
    """The photo's XMP sidecars beside its copy, under the copy's stem (``IMG_1 (2).CR2.xmp``); never replacing a
    file. Returns the ones that could not be copied, with why."""
    stem = target.name[:len(target.name) - len(source.suffix)] if source.suffix else target.name
    problems = []
    for sidecar in sidecars:
        temp = target.parent / f"{TEMP_PREFIX}export-{secrets.token_hex(8)}.part"
        try:
            copy_file(sidecar, temp)
            copy_times(sidecar, temp)
            publish(temp, target.parent / (stem + sidecar.name[len(source.stem):]))
        except SourceError as exc:
            problems.append((str(sidecar), f"cannot read the file: {_why(exc.error)}"))
        except FileExistsError:
            problems.append((str(sidecar), "a file with its name appeared in the export folder"))
        except OSError as exc:
            raise DestinationError(f"Cannot write to {target.parent}: {_why(exc)}.") from exc
        finally:
            remove_leftover(temp)
    return problems


def _copy_new(source: Path, directory: Path, taken: dict[Path, set[str]], companions: Sequence[str] = ()) -> Path:
    """Copy ``source`` into ``directory`` under its name or the first free "name (n)"; never replaces a file.
    ``companions`` (what follows the stem in each sidecar's name) must be free under the chosen stem too.

    The bytes go to a temp file first (fsynced, then published under the free name), so a crash or a full disk
    mid-copy never leaves a half photo under a real name; the source is opened as a regular file only, so a
    FIFO in a photo's place is skipped instead of hanging the export."""
    names = taken.get(directory)
    if names is None:
        try:
            directory.mkdir(parents=True, exist_ok=True)
            names = taken[directory] = {name_key(entry.name) for entry in os.scandir(directory)}
        except OSError as exc:
            raise DestinationError(f"Cannot create the folder {directory}: {_why(exc)}.") from exc
    temp = directory / f"{TEMP_PREFIX}export-{secrets.token_hex(8)}.part"
    try:
        try:
            copy_file(source, temp)
        except SourceError as exc:
            raise _SourceError(f"cannot read the file: {_why(exc.error)}") from exc.error
        except OSError as exc:
            raise DestinationError(f"Cannot write to {directory}: {_why(exc)}.") from exc
        copy_times(source, temp)
        for number in range(1, MAX_RENAMES + 1):
            name = source.name if number == 1 else numbered(source.name, number)
            stem = name[:len(name) - len(source.suffix)] if source.suffix else name
            group = [name_key(name), *(name_key(stem + tail) for tail in companions)]
            if any(key in names for key in group):
                continue
            names.update(group)
            try:
                publish(temp, directory / name)
            except FileExistsError:
                continue  # created since the folder was listed
            except OSError as exc:
                raise DestinationError(f"Cannot write to {directory}: {_why(exc)}.") from exc
            return directory / name
    finally:
        remove_leftover(temp)  # after publishing it is gone already (or a second name of the photo)
    raise DestinationError(f"No free name for {source.name} in {directory} after {MAX_RENAMES} tries.")


def _why(exc: OSError) -> str:
    return (exc.strerror or str(exc)).rstrip(".")


# --- labels and predictions as CSV ----------------------------------------------------------------------------

def export_csv(project: Project, out_path: Path | str, *, force: bool = False) -> CsvExport:
    """One row per usable photo (not broken, not missing): path, label, predicted, confidence, prob_<class>...
    An existing file is replaced only with ``force`` (never a photo); see ``_Destinations``."""
    out_path = Path(out_path).expanduser().absolute()
    _ready_file(out_path, _Destinations(project), force)
    model = active_model(project)
    class_names = model.class_names if model else []
    with project.sessions() as session:
        rows = session.execute(
            with_folder(select(IMAGE_PATH, ImageClass.name, Prediction.probabilities, Prediction.predicted_index,
                               Prediction.confidence).select_from(Image))
            .outerjoin(Label, Label.image_id == Image.id)
            .outerjoin(ImageClass, ImageClass.id == Label.class_id)
            .outerjoin(Prediction, current_prediction(model.id if model else None))
            .where(Image.error.is_(None), Image.missing.is_(False))
            .order_by(*BY_PATH)
        ).all()
    text = io.StringIO()
    writer = csv.writer(text)
    writer.writerow(["path", "label", "predicted", "confidence", *(f"prob_{name}" for name in class_names)])
    predicted = 0
    for photo_path, label, probabilities, index, confidence in rows:
        path = str(photo_path)
        if probabilities is not None and len(probabilities) == len(class_names):
            predicted += 1
            writer.writerow([path, label or "", class_names[index], _number(confidence),
                             *(_number(p) for p in probabilities)])
        else:
            writer.writerow([path, label or "", "", "", *([""] * len(class_names))])
    data = text.getvalue().encode("utf-8")
    try:
        (atomic_write if force else atomic_create)(out_path, lambda handle: handle.write(data))
        os.chmod(out_path, 0o644)
    except FileExistsError:  # created since the check
        raise DestinationError(_exists_message(out_path)) from None
    except OSError as exc:
        raise DestinationError(f"Cannot write {out_path}: {_why(exc)}.") from exc
    ExportRecord(project.path).remember(out_path)
    return CsvExport(out_path, len(rows), predicted, model.id if model else None, list(class_names))


def _number(value: float) -> str:
    return f"{float(value):.6f}"


class _Destinations:
    """Where an export of ``project`` may write: the checks run before anything is written."""

    def __init__(self, project: Project) -> None:
        self.project = project
        self.record = ExportRecord(project.path)
        with project.sessions() as session:
            roots = session.scalars(select(Folder.root)).all()
        self.protected = [(_real(Path(root)), "one of this project's photo folders") for root in roots]
        self.protected.append((_real(project.path), "the project's own folder"))

    def check_folder(self, directory: Path) -> None:
        """Refuse a folder that is, or is inside, a photo folder or the project (symlinks resolved)."""
        real = _real(directory)
        for root, what in self.protected:
            if _same(real, root) or any(_same(parent, root) for parent in real.parents):
                raise DestinationError(f"{directory} is in {root}, {what}: export somewhere else, so that no "
                                       "photo can be overwritten.")

    def check_file(self, path: Path, force: bool) -> None:
        """Refuse a file in a protected folder; an existing one without ``force``, or one that is a photo."""
        self.check_folder(path.parent)
        if not os.path.lexists(path):
            return
        if not force:
            raise DestinationError(_exists_message(path))
        if self._is_a_photo(path):
            raise DestinationError(f"{path} is one of this project's photos; an export never replaces it, "
                                   "not even with --force.")
        if not self.record.wrote(path):
            raise DestinationError(f"{path} is not a file this project exported (or it changed since), so "
                                   "--force does not replace it; choose another name, or move that file away first.")

    def _is_a_photo(self, path: Path) -> bool:
        """Whether ``path`` is the same file as an indexed photo (through a link from outside its folder, say).
        Only asked with --force over an existing file, so stat'ing every photo once is affordable."""
        try:
            target = os.stat(path)
        except OSError:
            return False
        with self.project.sessions() as session:
            for (photo_path,) in session.execute(with_folder(select(IMAGE_PATH).select_from(Image))):
                try:
                    photo = os.stat(photo_path)
                except OSError:
                    continue
                if (photo.st_dev, photo.st_ino) == (target.st_dev, target.st_ino):
                    return True
        return False


def _real(path: Path) -> Path:
    return Path(os.path.realpath(path))


def _same(a: Path, b: Path) -> bool:
    # Case-insensitive file systems (Windows, macOS by default) see Photos and photos as one folder.
    if sys.platform in ("win32", "darwin"):
        return name_key(str(a)) == name_key(str(b))
    return a == b


def _exists_message(path: Path) -> str:
    return f"{path} already exists; choose another name, or replace it on purpose with --force."


def _ready_file(path: Path, destinations: _Destinations, force: bool) -> None:
    """The path is not a folder and may be written (``_Destinations.check_file``); its folder exists (created
    if needed) and is writable."""
    if path.is_dir():
        raise DestinationError(f"{path} is a folder; give the name of the file to write.")
    destinations.check_file(path, force)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DestinationError(f"Cannot create the folder {path.parent}: {_why(exc)}.") from exc
    if not os.access(path.parent, os.W_OK | os.X_OK):
        raise DestinationError(f"The folder {path.parent} is not writable.")


# --- the active model -----------------------------------------------------------------------------------------

def export_model(project: Project, out_path: Path | str, export_format: str, *, force: bool = False) -> ModelExport:
    """The active model as ``torchscript`` or ``onnx``; ``out_path`` may be a folder (a name is then chosen).
    The model file and its ``.labels.json`` replace existing files only with ``force`` (never a photo)."""
    if export_format not in MODEL_FORMATS:
        raise ExportFailed(f"Unknown model format “{export_format}”; choose {' or '.join(MODEL_FORMATS)}.")
    model = active_model(project)
    if model is None:
        raise NoActiveModel("This project has no active model; train one first.")
    from desktop.ml.checkpoint import load_checkpoint
    from desktop.ml.export import SUFFIXES, labels_path_for
    from desktop.ml.export import export_model as write_model

    out_path = Path(out_path).expanduser().absolute()
    if out_path.is_dir():
        out_path = out_path / f"{project.name}-model-{model.id}{SUFFIXES[export_format]}"
    destinations = _Destinations(project)
    destinations.check_file(labels_path_for(out_path), force)
    _ready_file(out_path, destinations, force)
    checkpoint = load_checkpoint(model.file)
    result = write_model(checkpoint, out_path, export_format, model_id=model.id, overwrite=force)
    destinations.record.remember(result.model, result.labels)
    return ModelExport(result.model, result.labels, export_format, model.id, list(checkpoint["class_names"]))
