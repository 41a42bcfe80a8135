"""`similar` and `check`: the collection seen through its features — the photos most like one photo, and a
health scan (duplicates, blurry, dark, bright, low-information, odd-sized photos, outliers, class imbalance,
split leaks) whose findings can be dismissed for good."""

from __future__ import annotations

import argparse
import threading

from desktop.cli.common import (
    UserError,
    command,
    emit_result,
    image_reference,
    path_argument,
    positive_int,
    terminal_safe,
)
from desktop.cli.progress import progress_bar
from desktop.cli.quality_commands import show_features
from desktop.wording import plural


def add_parsers(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("similar", help="the photos most like one photo (cosine similarity of the features)")
    p.add_argument("project", type=path_argument)
    p.add_argument("image", type=image_reference, help="the photo: its path (inside an added folder) or its image id")
    p.add_argument("--n", type=positive_int, default=20, metavar="N", help="how many (default 20)")
    p.add_argument("--json", action="store_true")

    p = sub.add_parser("check", help="check the photos: duplicates, blurry, dark, odd-sized, outliers, imbalance")
    p.add_argument("project", type=path_argument)
    p.add_argument("--dismiss", nargs=2, metavar=("KIND", "IMAGE"),
                   help="mark KIND as not a problem for IMAGE (a path or an image id; a class name for "
                        "class_imbalance), for good, instead of checking")
    p.add_argument("--json", action="store_true")


@command("similar")
def _similar(args: argparse.Namespace) -> int:
    from desktop.core.project import open_project
    from desktop.core.similarity import build_index, find_image, paths_of

    with open_project(args.project, create=False) as project:
        image_id = find_image(project, args.image)
        with progress_bar(args, "Computing features") as bar:
            index = build_index(project, on_progress=show_features(bar), cancel=threading.Event())
        result = index.neighbours(image_id, args.n)
        paths = paths_of(project, [image_id, *(i for i, _ in result)])
    payload = {"image": {"id": image_id, "path": str(paths[image_id])},
               "similar": [{"id": i, "path": str(paths[i]), "score": score} for i, score in result]}
    lines = [f"Most like {terminal_safe(paths[image_id])}:"]
    lines += [f"  {score:.3f}  {terminal_safe(paths[i])}" for i, score in result]
    emit_result(args, payload, "\n".join(lines) if result else "No other photo has features yet.")
    return 0


@command("check")
def _check(args: argparse.Namespace) -> int:
    from desktop.core.health import check_photos
    from desktop.core.project import open_project

    with open_project(args.project, create=False) as project:
        if args.dismiss:
            return _dismiss(args, project, *args.dismiss)
        with progress_bar(args, "Checking photos") as bar:
            report = check_photos(project, on_progress=show_features(bar), cancel=threading.Event())
    payload = {"photos_checked": report.photos_checked, "dismissed": report.dismissed, "notes": report.notes,
               "findings": [{"kind": f.kind, "title": f.title, "summary": f.summary, "keeper_id": f.keeper_id,
                             "keeper_rule": f.keeper_rule,
                             "photos": [{"id": p.image_id, "path": str(p.path), "reason": p.reason}
                                        for p in f.photos]} for f in report.findings]}
    emit_result(args, payload, check_text(report))
    return 0


def check_text(report) -> str:
    lines = [f"Checked {plural(report.photos_checked, 'photo')}: {plural(len(report.findings), 'finding')}"
             + (f", {report.dismissed} dismissed as not a problem." if report.dismissed else ".")]
    for finding in report.findings:
        lines.append(f"{finding.title}: {terminal_safe(finding.summary)}")
        lines += [f"  {'*' if p.image_id == finding.keeper_id else ' '} {terminal_safe(p.path)}: "
                  f"{terminal_safe(p.reason)}" for p in finding.photos]
    lines += [terminal_safe(note) for note in report.notes]
    return "\n".join(lines)


def _dismiss(args: argparse.Namespace, project, kind: str, image: str) -> int:
    from sqlalchemy import select

    from desktop.core.health import class_key, dismiss
    from desktop.core.similarity import find_image
    from desktop.db.models import Image

    if kind == "class_imbalance":
        key, what = class_key(image), f"class '{image}'"
    else:
        try:
            reference = image_reference(image)
        except argparse.ArgumentTypeError as exc:  # nargs=2 takes no per-value type: parsed here instead
            raise UserError(f"The photo to dismiss: {exc}.") from None
        image_id = find_image(project, reference)
        with project.sessions() as session:
            key = session.scalar(select(Image.content_hash).where(Image.id == image_id))
        what = f"photo {image_id}"
    dismiss(project, kind, [key])  # refuses a kind that is no check, in one sentence
    emit_result(args, {"dismissed": {"kind": kind, "key": key}},
                f"Dismissed {kind} for {terminal_safe(what)}: it will not be flagged again.")
    return 0
