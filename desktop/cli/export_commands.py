"""`export` and `predict-file`: a project's photos, labels and model taken elsewhere, and a model run on files."""

from __future__ import annotations

import argparse
import math
from pathlib import Path

from desktop.cli.common import UserError, command, emit_result, terminal_safe
from desktop.cli.progress import progress_bar

WHAT = ("imagefolder", "csv", "torchscript", "onnx")


def add_parsers(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("export", help="export labelled photos (class folders), a CSV, or the active model")
    p.add_argument("project", type=Path)
    p.add_argument("--what", required=True, choices=WHAT,
                   help="imagefolder: copies of the labelled photos as CLASS/FILE; csv: paths, labels, predictions "
                        "and probabilities; torchscript/onnx: the active model, preprocessing included, "
                        "with NAME.labels.json beside it")
    p.add_argument("--out", required=True, type=Path,
                   help="folder (imagefolder; a model file name is chosen inside a folder) or file to write")
    p.add_argument("--split", action="store_true",
                   help="imagefolder: train/ and val/ subfolders following each photo's split")
    p.add_argument("--json", action="store_true")

    p = sub.add_parser("predict-file", help="classify image files with an exported model or a model file, "
                                            "no project needed (exit code 1 when an image cannot be read)")
    p.add_argument("model", type=Path,
                   help="TorchScript (.pt/.ts) or ONNX (.onnx) file from `export`, or a model file from a "
                        "project's models folder")
    p.add_argument("images", type=Path, nargs="+", metavar="IMAGE")
    p.add_argument("--json", action="store_true")


@command("export")
def _export(args: argparse.Namespace) -> int:
    from desktop.core.export import export_csv, export_imagefolder, export_model
    from desktop.core.project import open_project

    if args.split and args.what != "imagefolder":
        raise UserError("--split only applies to --what imagefolder.")
    with open_project(args.project, create=False) as project:
        if args.what == "imagefolder":
            folders = export_imagefolder(project, args.out, split_folders=args.split)
            text = (f"Copied {folders.copied} labelled photos to {folders.out_dir} ("
                    + (", ".join(f"{name} {count}" for name, count in folders.per_class.items()) or "none")
                    + (f"; {folders.renamed} renamed to avoid a name already taken" if folders.renamed else "")
                    + ")")
            text += "".join(f"\n  skipped: {path}: {reason}" for path, reason in folders.skipped)
            emit_result(args, folders.as_json(), text)
        elif args.what == "csv":
            table = export_csv(project, args.out)
            text = f"Wrote {table.rows} rows to {table.path}"
            if table.model_id is None:
                text += " (no active model: prediction columns are empty)"
            elif table.predicted < table.rows:
                text += f" ({table.rows - table.predicted} photos have no prediction yet)"
            emit_result(args, table.as_json(), text)
        else:
            label = "Exporting the model to ONNX" if args.what == "onnx" else "Exporting the model"
            with progress_bar(args, label).ticking():  # the exporter reports nothing; the elapsed time moves
                model = export_model(project, args.out, args.what)
            emit_result(args, model.as_json(),
                        f"Exported model {model.model_id} ({', '.join(map(terminal_safe, model.class_names))}) to "
                        f"{model.path}; "
                        f"class names and preprocessing in {model.labels}")
    return 0


@command("predict-file")
def _predict_file(args: argparse.Namespace) -> int:
    from desktop.ml.export import load_exported, predict_exported

    model = load_exported(args.model)
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
    lines = [f"{image['path']}: {image['predicted']} ({image['confidence']:.1%})" for image in images]
    lines += [f"{error['path']}: cannot be read: {error['reason']}" for error in payload["errors"]]
    emit_result(args, payload, "\n".join(lines))
    return 1 if errors else 0
