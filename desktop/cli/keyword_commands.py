"""`keywords`: the keywords photos carry (from their XMP, IPTC and sidecars), and making classes of them."""

from __future__ import annotations

import argparse

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
