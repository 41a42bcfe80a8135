"""`models`: every trained model version, which one is active, and how they compare."""

from __future__ import annotations

import argparse

from desktop.cli.common import UserError, command, emit_result, path_argument, record_id, terminal_safe
from desktop.cli.progress import progress_bar


def add_parsers(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("models", help="list trained models (versions) and which one is active")
    p.add_argument("project", type=path_argument)
    p.add_argument("--evaluate", action="store_true",
                   help="also score every model the same way on today's labelled photos (comparable across versions)")
    p.add_argument("--activate", type=record_id, metavar="ID", help="make this model the active one first")
    p.add_argument("--json", action="store_true")


@command("models")
def _models(args: argparse.Namespace) -> int:
    from desktop.core.models_registry import list_models, set_active
    from desktop.core.project import open_project

    writes = args.activate is not None or args.evaluate  # listing only reads: a read-only project too
    with open_project(args.project, create=False, writes=writes) as project:
        if args.activate is not None:
            if args.activate not in {m.id for m in list_models(project)}:
                raise UserError(f"There is no model {args.activate} in this project.")
            set_active(project, args.activate)
        models = list_models(project)
        scores = {}
        if args.evaluate and models:
            from desktop.core.model_comparison import score_versions

            with progress_bar(args, "Scoring the models on today's labelled photos", unit="models") as bar:
                bar.update(0, len(models))
                scored = score_versions(project, on_progress=lambda p: bar.update(p.done, p.total))
            scores = {score.model_id: score for score in scored}
    active = next((m.id for m in models if m.is_active), None)
    rows = []
    for m in models:
        row = {"model_id": m.id, "created": m.created.isoformat(timespec="seconds"), "backbone": m.backbone,
               "mode": m.mode, "train_images": m.train_images, "val_accuracy": m.val_accuracy}
        if m.id in scores:
            row["current_val_accuracy"] = scores[m.id].accuracy
            row["current_val_images"] = scores[m.id].scored
        rows.append(row)
    emit_result(args, {"active": active, "models": rows}, models_text(rows, active))
    return 0


def models_text(rows: list[dict], active: int | None) -> str:
    """One line per version, the active one starred."""
    lines = []
    for r in rows:
        accuracy = f"{r['val_accuracy']:.1%}" if r["val_accuracy"] is not None else "n/a"
        today = (f"  (today's split: {r['current_val_accuracy']:.1%})" if r.get("current_val_accuracy") is not None
                 else "")
        lines.append(f"{'*' if r['model_id'] == active else ' '} {r['model_id']:>3}  {r['created']}  "
                     f"{terminal_safe(r['backbone']):<20} {terminal_safe(r['mode']):<9} {r['train_images']:>6} photos  "
                     f"{accuracy}{today}")
    return "\n".join(lines) or "No trained models yet."
