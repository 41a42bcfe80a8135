"""`keywords`: the keywords photos carry (from their XMP, IPTC and sidecars), and making classes of them; `tag`:
the classes written back as keywords into XMP sidecars, journalled, resumable and undoable."""

from __future__ import annotations

import argparse
import sys

from desktop.cli.common import command, emit_result, path_argument, terminal_safe


def add_parsers(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("keywords", help="list the keywords the photos carry, or label photos from them")
    p.add_argument("project", type=path_argument)
    how = p.add_mutually_exclusive_group()
    how.add_argument("--as-labels", nargs="+", metavar="KEYWORD",
                     help="label the unlabelled photos carrying one of these keywords with it (its last level)")
    how.add_argument("--branch", metavar="BRANCH",
                     help="label the unlabelled photos by the level below this branch: 'Animals|' makes "
                          "'Animals|Birds|Pigeon' a Birds")
    p.add_argument("--rescan", action="store_true", help="read the keywords from the photos and sidecars again")
    p.add_argument("--json", action="store_true")
    add_tag_parser(sub)


@command("keywords")
def _keywords(args: argparse.Namespace) -> int:
    from desktop.core.keywords import keyword_counts, label_from_keywords, read_keywords
    from desktop.core.project import open_project

    labelling = bool(args.as_labels or args.branch)
    with open_project(args.project, create=False, writes=labelling or args.rescan) as project:
        if args.rescan:
            read_keywords(project)
        if labelling:
            result = label_from_keywords(project, args.as_labels or (), args.branch)
            emit_result(args, {"per_class": result.per_class, "already_labelled": result.already_labelled,
                               "ambiguous": result.ambiguous, "message": result.message},
                        terminal_safe(result.message))
            return 0
        counts = keyword_counts(project)
    text = "\n".join(f"{count:6d}  {terminal_safe(keyword)}" for keyword, count in counts) or (
        "No photo carries a keyword (in its XMP or IPTC, or in an XMP sidecar).")
    emit_result(args, {"keywords": [{"keyword": keyword, "photos": count} for keyword, count in counts]}, text)
    return 0


def add_tag_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("tag", help="write each photo's class as a keyword into its XMP sidecar (never the photo)")
    p.add_argument("project", type=path_argument)
    p.add_argument("--hierarchy", default="Pigeonhole",
                   help="the keyword the classes go under: 'Pigeonhole' writes 'Pigeonhole|cats' (and 'cats'); "
                        "'' writes 'cats' alone")
    p.add_argument("--precision", type=float, default=0.95,
                   help="an unlabelled photo gets its prediction where the model is expected to be right this share "
                        "of the time (the sort's rule; default 0.95)")
    p.add_argument("--dry-run", action="store_true", help="say what would be written, write nothing")
    again = p.add_mutually_exclusive_group()
    again.add_argument("--resume", action="store_true", help="finish the newest tag run that was interrupted")
    again.add_argument("--undo", action="store_true", help="put every sidecar of the newest tag run back as it was")
    p.add_argument("--run-id", type=int, help="the tag run to resume or undo (default: the newest)")
    p.add_argument("--json", action="store_true")


@command("tag")
def _tag(args: argparse.Namespace) -> int:
    from desktop.core.project import open_project
    from desktop.core.tagging import TagResult, plan_tags, run_tags, start_tags, undo_tags

    with open_project(args.project, create=False, writes=not args.dry_run) as project:
        if args.undo:
            result = undo_tags(project, args.run_id)
        elif args.resume:
            result = run_tags(project, args.run_id)
        else:
            plan = plan_tags(project, args.hierarchy, args.precision)
            for warning in plan.warnings:
                print(f"warning: {terminal_safe(warning)}", file=sys.stderr)
            if args.dry_run:
                result = TagResult(None, "dry-run", per_class=plan.per_class)
            else:
                result = run_tags(project, start_tags(project, plan))
    lines = [terminal_safe(result.message)]
    lines += [f"  {terminal_safe(str(path))}: {terminal_safe(reason)}" for path, reason in result.failed]
    emit_result(args, result.as_json(), "\n".join(lines))
    return 1 if result.failed else 0
