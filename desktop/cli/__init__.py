"""Command line: `pigeonhole` starts the GUI; subcommands run the same Qt-free core from a terminal.

Each topic module (``project_commands``, ...) adds its subparsers and registers its handlers with
``@command``. Heavy modules (torch, Qt) are imported inside the handler that needs them, so `status`
answers at once.
"""

from __future__ import annotations

import argparse
import difflib
import os
import re
import sys
from collections.abc import Sequence
from pathlib import Path

from desktop import __version__
from desktop.cli import (
    collection_commands,
    export_commands,
    folder_commands,
    keyword_commands,
    model_commands,
    predict_commands,
    project_commands,
    quality_commands,
    sort_commands,
    training_commands,
)
from desktop.cli.common import COMMANDS, UserError, command, error_line, path_argument, user_message
from desktop.cli.launch import check_launch_environment, leave_failed_worker
from desktop.ml.builds import build_name

TOPICS = (project_commands, folder_commands, training_commands, predict_commands, model_commands, sort_commands,
          export_commands, quality_commands, collection_commands, keyword_commands)

__all__ = ["COMMANDS", "UserError", "build_parser", "command", "gui_main", "main", "user_message"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="pigeonhole",
        description="Sort photos with an image classifier you train yourself. Without a command, opens the app.",
    )
    parser.add_argument("--version", action="version", version=f"Pigeonhole {__version__} ({build_name()} build)")
    parser.add_argument("--self-test", action="store_true",
                        help="import, train and predict on generated pictures in a temporary project; print JSON "
                             "and exit 0 when everything works (no network, no display needed)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for topic in TOPICS:
        topic.add_parsers(sub)
    p = sub.add_parser("gui", help="open the app (the default)")
    p.add_argument("project", type=path_argument, nargs="?")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv:
        return gui_main([])
    if argv[0] not in COMMANDS and not argv[0].startswith("-"):
        if _names_a_project(argv[0]):  # `pigeonhole PROJECT` opens that project in the app
            try:
                path_argument(argv[0])
            except argparse.ArgumentTypeError as exc:
                print(error_line(exc), file=sys.stderr)
                return 2
            return gui_main(argv[:1])
        print(error_line(_unknown_command(argv[0])), file=sys.stderr)
        return 2
    args = build_parser().parse_args(argv)
    args.argv = argv  # what `--nproc N` hands torchrun again (desktop.cli.launch)
    if args.self_test:
        return self_test()
    if args.command is None:
        return gui_main([])
    return leave_failed_worker(_run_command(args))


def _run_command(args: argparse.Namespace) -> int:
    """The command's exit code; a user's mistake or a failure of the world is one sentence on stderr."""
    try:
        check_launch_environment()
        return COMMANDS[args.command](args)
    except KeyboardInterrupt:
        print("pigeonhole: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `pigeonhole predict ... | head`: the reader has what it wanted
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except Exception as exc:
        from desktop.db.engine import is_interrupted

        if is_interrupted(exc):  # Ctrl+C that stopped a query inside SQLite (desktop.db.engine)
            print("pigeonhole: interrupted", file=sys.stderr)
            return 130
        message = user_message(exc)
        if message is None:
            raise  # a bug: its traceback is what a developer needs
        print(error_line(message), file=sys.stderr)
        return 1


def _names_a_project(arg: str) -> bool:
    """A first argument that is no command opens the app only when it is a project (or clearly a path): a
    mistyped command must not become a new project folder."""
    from desktop.core.project import PROJECT_SUFFIX

    try:
        exists = os.path.exists(os.path.expanduser(arg))
    except (OSError, ValueError):  # a name too long for the system
        exists = False
    return exists or arg.endswith(PROJECT_SUFFIX) or not re.fullmatch(r"[A-Za-z][\w-]*", arg)


def _unknown_command(word: str) -> str:
    close = difflib.get_close_matches(word, sorted(COMMANDS), n=1)
    hint = f"did you mean '{close[0]}'?" if close else "see `pigeonhole --help`"
    return f"unknown command '{word}' ({hint})"


def gui_main(argv: Sequence[str] | None = None) -> int:
    from desktop.platform_check import PlatformUnavailable, check_gui_platform

    try:  # before Qt is imported: a missing X11 library makes Qt abort the process
        check_gui_platform()
    except PlatformUnavailable as exc:
        print(f"pigeonhole: error: {exc}", file=sys.stderr)
        return 1
    from desktop.ui.app import run_app

    argv = list(sys.argv[1:] if argv is None else argv)
    return run_app(Path(argv[0]) if argv else None)


def self_test() -> int:
    import json

    from desktop.core.self_test import run_self_test

    result = run_self_test(say=lambda step: print(f"self-test: {step}", file=sys.stderr))
    print(json.dumps(result, indent=2))
    return 0 if result["ok"] else 1


@command("gui")
def _gui(args: argparse.Namespace) -> int:
    return gui_main([str(args.project)] if args.project else [])
