"""The README's command list and the parser stay in step: every command, and every one of its options."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

from desktop.cli import build_parser

README = Path(__file__).resolve().parents[2] / "README.md"


def readme_usage() -> dict[str, str]:
    """Command name -> its usage text in the first ``sh`` block of the README's "Command line" section
    (an indented line continues the command above it)."""
    section = README.read_text(encoding="utf-8").split("### Command line", 1)[1]
    block = re.search(r"```sh\n(.*?)```", section, re.S).group(1)
    usage: dict[str, str] = {}
    name = None
    for line in block.splitlines():
        words = line.split("#", 1)[0].split()
        if line.startswith("pigeonhole"):
            name = words[1] if len(words) > 1 and not words[1].isupper() else "pigeonhole"
            usage[name] = usage.get(name, "") + " " + " ".join(words)
        elif line.startswith(" ") and name is not None:
            usage[name] += " " + " ".join(words)
    return usage


def subcommands() -> dict[str, argparse.ArgumentParser]:
    parser = build_parser()
    sub = next(action for action in parser._actions if isinstance(action, argparse._SubParsersAction))
    return dict(sub.choices)


def long_options(parser: argparse.ArgumentParser) -> set[str]:
    return {option for action in parser._actions for option in action.option_strings
            if option.startswith("--") and option != "--help"}


def test_every_command_is_in_the_readme_with_all_its_options() -> None:
    usage = readme_usage()
    commands = subcommands()
    assert set(commands) <= set(usage), f"not in the README: {sorted(set(commands) - set(usage))}"
    for name, parser in commands.items():
        listed = set(re.findall(r"--[a-z][a-z-]*", usage[name]))
        assert long_options(parser) <= listed, f"{name}: not in the README: {long_options(parser) - listed}"


def test_the_readme_lists_no_command_that_does_not_exist() -> None:
    assert set(readme_usage()) - {"pigeonhole", "--self-test", "--version"} <= set(subcommands())


def test_the_top_level_options_are_listed() -> None:
    top = {option for action in build_parser()._actions for option in action.option_strings
           if option.startswith("--") and option != "--help"}
    assert top <= set(readme_usage())


def documented_keys(command: str) -> set[str]:
    """The top-level keys the README gives for ``COMMAND --json`` (the `{...}` after "`COMMAND --json` prints")."""
    text = " ".join(README.read_text(encoding="utf-8").split("### Command line", 1)[1].split())
    shape = re.search(rf"`{command} --json` prints `(\{{.*?\}})`", text).group(1)
    depth, outer = 0, ""
    for ch in shape[1:-1]:  # keep only what is at the outer level of the braces
        depth += (ch in "{[") - (ch in "}]")
        outer += ch if depth == 0 else ""
    return set(re.findall(r'"([a-z_]+)"', outer))


def test_the_documented_json_shapes_are_the_real_ones() -> None:
    from desktop.core.new_model import NewModel
    from desktop.core.status import ProjectStatus
    from desktop.core.training_types import TrainingSummary

    status = ProjectStatus(1, 1, 0, 0, 0, {"a": 1})
    summary = TrainingSummary(1, "b", "frozen", "cpu", ["a"], 1, 1, 1.0, {}, [[1]], 1.0)
    assert documented_keys("status") == set(status.as_json())
    assert documented_keys("train") == set(NewModel(summary, None).as_json())  # what `train --json` prints
