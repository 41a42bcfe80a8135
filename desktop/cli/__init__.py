"""Command line: `pigeonhole` starts the GUI; subcommands run the same Qt-free core from a terminal.

Each topic module (``project_commands``, ...) adds its subparsers and registers its handlers with
``@command``. Heavy modules (torch, Qt) are imported inside the handler that needs them, so `status`
answers at once.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from desktop import __version__
from desktop.cli import (
    export_commands,
    model_commands,
    predict_commands,
    project_commands,
    quality_commands,
    sort_commands,
    training_commands,
)
from desktop.cli.common import COMMANDS, UserError, command
from desktop.errors import PigeonholeError

TOPICS = (project_commands, training_commands, predict_commands, model_commands, sort_commands, export_commands,
          quality_commands)

__all__ = ["COMMANDS", "UserError", "build_parser", "command", "gui_main", "main"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="pigeonhole",
        description="Sort photos with an image classifier you train yourself. Without a command, opens the app.",
    )
    parser.add_argument("--version", action="version", version=f"Pigeonhole {__version__}")
    parser.add_argument("--self-test", action="store_true",
                        help="import, train and predict on generated pictures in a temporary project; print JSON "
                             "and exit 0 when everything works (no network, no display needed)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for topic in TOPICS:
        topic.add_parsers(sub)
    p = sub.add_parser("gui", help="open the app (the default)")
    p.add_argument("project", type=Path, nargs="?")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    # `pigeonhole PROJECT` opens that project in the app.
    if not argv or (argv[0] not in COMMANDS and not argv[0].startswith("-")):
        return gui_main(argv[:1])
    args = build_parser().parse_args(argv)
    if args.self_test:
        return self_test()
    if args.command is None:
        return gui_main([])
    try:
        return COMMANDS[args.command](args)
    except KeyboardInterrupt:
        print("pigeonhole: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `pigeonhole predict ... | head`: the reader has what it wanted
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except Exception as exc:
        if _is_user_error(exc):
            print(f"pigeonhole: error: {exc}", file=sys.stderr)
            return 1
        raise


def _is_user_error(exc: Exception) -> bool:
    """Errors whose message is meant for the user: one sentence, no traceback."""
    return isinstance(exc, UserError | PigeonholeError | FileNotFoundError)


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
