"""`export` and `predict-file`: a project's photos, labels and model taken elsewhere, and a model run on files."""

from __future__ import annotations

import argparse
import contextlib
import math
import signal
from collections.abc import Iterator

from desktop.cli.common import UserError, command, emit_result, path_argument, terminal_safe
from desktop.cli.progress import progress_bar

WHAT = ("imagefolder", "csv", "torchscript", "onnx")


def add_parsers(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("export", help="export labelled photos (class folders), a CSV, or the active model")
    p.add_argument("project", type=path_argument)
    p.add_argument("--what", required=True, choices=WHAT,
                   help="imagefolder: copies of the labelled photos as CLASS/FILE; csv: paths, labels, predictions "
                        "and probabilities; torchscript/onnx: the active model, preprocessing included, "
                        "with NAME.labels.json beside it")
    p.add_argument("--out", required=True, type=path_argument,
                   help="folder (imagefolder; a model file name is chosen inside a folder) or file to write")
    p.add_argument("--split", action="store_true",
                   help="imagefolder: train/ and val/ subfolders following each photo's split")
    p.add_argument("--force", action="store_true",
                   help="csv/torchscript/onnx: replace this project's earlier export of that name (and its "
                        "NAME.labels.json), unchanged since; never any other file, never in a photo folder")
    p.add_argument("--json", action="store_true")

    p = sub.add_parser("predict-file", help="classify image files with an exported model or a model file, "
                                            "no project needed (exit code 1 when an image cannot be read)")
    p.add_argument("model", type=path_argument,
                   help="ONNX (.onnx) file from `export`, or a model file from a project's models folder "
                        "(TorchScript only with --trust-code)")
    p.add_argument("images", type=path_argument, nargs="+", metavar="IMAGE")
    p.add_argument("--trust-code", action="store_true",
                   help="also run TorchScript files: a TorchScript file is a program and runs with your rights "
                        "(it can read, change and delete your files); pass this only for a file you made")
    p.add_argument("--json", action="store_true")


@command("export")
def _export(args: argparse.Namespace) -> int:
    from desktop.core.export import export_csv, export_imagefolder, export_model
    from desktop.core.project import open_project

    if args.split and args.what != "imagefolder":
        raise UserError("--split only applies to --what imagefolder.")
    if args.force and args.what == "imagefolder":
        raise UserError("--force does not apply to --what imagefolder, which never replaces a file.")
    with open_project(args.project, create=False) as project:
        if args.what == "imagefolder":
            with progress_bar(args, "Copying the labelled photos", unit="photos") as bar:
                folders = export_imagefolder(project, args.out, split_folders=args.split,
                                             on_progress=lambda done, total: bar.update(done, total))
            text = (f"Copied {folders.copied} labelled photos to {terminal_safe(folders.out_dir)} ("
                    + (", ".join(f"{terminal_safe(name)} {count}" for name, count in folders.per_class.items())
                       or "none")
                    + (f"; {folders.renamed} renamed to avoid a name already taken" if folders.renamed else "")
                    + ")")
            text += "".join(f"\n  skipped: {terminal_safe(path)}: {terminal_safe(reason)}"
                            for path, reason in folders.skipped)
            emit_result(args, folders.as_json(), text)
        elif args.what == "csv":
            table = export_csv(project, args.out, force=args.force)
            text = f"Wrote {table.rows} rows to {terminal_safe(table.path)}"
            if table.model_id is None:
                text += " (no active model: prediction columns are empty)"
            elif table.predicted < table.rows:
                text += f" ({table.rows - table.predicted} photos have no prediction yet)"
            emit_result(args, table.as_json(), text)
        else:
            label = "Exporting the model to ONNX" if args.what == "onnx" else "Exporting the model"
            with progress_bar(args, label).ticking():  # the exporter reports nothing; the elapsed time moves
                model = export_model(project, args.out, args.what, force=args.force)
            emit_result(args, model.as_json(),
                        f"Exported model {model.model_id} ({', '.join(map(terminal_safe, model.class_names))}) to "
                        f"{terminal_safe(model.path)}; class names and preprocessing in {terminal_safe(model.labels)}")
    return 0


@contextlib.contextmanager
def _ctrl_c_ends_the_process() -> Iterator[None]:
    """Ctrl+C kills at once: a model stuck in native code (a TorchScript loop, a huge ONNX graph) never returns
    to Python to see a KeyboardInterrupt, and predict-file writes nothing that an abrupt end could spoil."""
    try:
        previous = signal.signal(signal.SIGINT, signal.SIG_DFL)
    except ValueError:  # not the main thread (an embedding program): leave its handler alone
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


@command("predict-file")
def _predict_file(args: argparse.Namespace) -> int:
    from desktop.ml.export import load_exported, predict_exported

    with _ctrl_c_ends_the_process():
        model = load_exported(args.model, trust_code=args.trust_code)
        class_names, probabilities, errors = predict_exported(model, args.images)
    images = []
    for path, row in zip(args.images, probabilities, strict=True):
        if any(math.isnan(float(p)) for p in row):  # unreadable: reported in errors
            continue
        best = int(row.argmax())
        images.append({"path": str(path.expanduser().absolute()), "predicted": class_names[best],
                       "confidence": round(float(row[best]), 6),
                       "probabilities": {name: round(float(p), 6) for name, p in zip(class_names, row, strict=True)}})
    payload = {"model": str(args.model.expanduser().absolute()), "format": model.format, "classes": class_names,
               "images": images,
               "errors": [{"path": str(path.expanduser().absolute()), "reason": reason} for path, reason in errors]}
    lines = [f"{terminal_safe(image['path'])}: {terminal_safe(image['predicted'])} ({image['confidence']:.1%})"
             for image in images]
    lines += [f"{terminal_safe(error['path'])}: cannot be read: {terminal_safe(error['reason'])}"
              for error in payload["errors"]]
    emit_result(args, payload, "\n".join(lines))
    return 1 if errors else 0
