"""Every command, fed the paths, ids and environment a red team tried: one sentence each, never a traceback, and
nothing started. The sweep reads the parser, so a command added later is swept too."""

from __future__ import annotations

import argparse
import os
import subprocess

import pytest
from cli_helpers import assert_one_error_line

import desktop.cli.launch
from desktop.cli import build_parser, main
from desktop.cli.common import MAX_ID, image_reference, path_argument, record_id


def _path_arguments() -> list[tuple[str, str | None, object]]:
    """(command, option or None for a positional, nargs) of every argument that takes a path."""
    parser = build_parser()
    sub = next(action for action in parser._actions if isinstance(action, argparse._SubParsersAction))
    found = []
    for name, subparser in sub.choices.items():
        for action in subparser._actions:
            if action.type in (path_argument, image_reference):
                found.append((name, action.option_strings[0] if action.option_strings else action.dest,
                              action.nargs))
    return found


PATH_ARGUMENTS = _path_arguments()


def test_the_sweep_finds_every_command_that_takes_a_path() -> None:
    commands = {name for name, _, _ in PATH_ARGUMENTS}
    assert commands >= {"import", "status", "folders", "train", "predict", "suggest", "models", "sort", "resume-sort",
                        "undo-sort", "export", "predict-file", "duplicates", "label-issues", "similar", "check", "gui"}
    assert ("sort", "--dest", None) in PATH_ARGUMENTS  # a plain string before


def _argv(command: str, argument: str, nargs, bad: str, tmp_path) -> list[str]:
    """``command`` with ``bad`` in ``argument`` and a harmless path in every positional before it."""
    parser = build_parser()
    sub = next(action for action in parser._actions if isinstance(action, argparse._SubParsersAction))
    argv = [command]
    count = 2 if nargs == 2 else 1
    for action in sub.choices[command]._actions:
        if action.option_strings:
            continue
        if action.dest == argument:
            return argv + [bad] * count
        argv.append(str(tmp_path / "elsewhere"))
    return argv + [argument] + [bad] * count


@pytest.fixture
def symlink_loop(tmp_path) -> str:
    (tmp_path / "a").symlink_to(tmp_path / "b")
    (tmp_path / "b").symlink_to(tmp_path / "a")
    return str(tmp_path / "a")


@pytest.mark.parametrize(("command", "argument", "nargs"), PATH_ARGUMENTS,
                         ids=[f"{c} {a}" for c, a, _ in PATH_ARGUMENTS])
@pytest.mark.parametrize("kind", ["unknown user", "symlink loop", "below a symlink loop", "empty"])
def test_a_path_that_names_nothing_is_one_sentence(command, argument, nargs, kind, tmp_path, symlink_loop,
                                                   capsys) -> None:
    bad = {"unknown user": "~no-such-user-here/photos", "symlink loop": symlink_loop,
           "below a symlink loop": symlink_loop + "/cats", "empty": ""}[kind]
    with pytest.raises(SystemExit) as exit_info:
        main(_argv(command, argument, nargs, bad, tmp_path))
    assert exit_info.value.code == 2
    out, err = capsys.readouterr()
    assert out == "" and "Traceback" not in err
    error = err.strip().splitlines()[-1]
    assert error.startswith(f"pigeonhole {command}: error: argument ")
    assert {"unknown user": "does not know", "empty": "empty"}.get(kind, "loop of symbolic links") in error
    assert not any(tmp_path.glob("elsewhere*"))  # nothing was created


def test_the_app_given_such_a_path_says_so_too(capsys) -> None:
    assert main(["~no-such-user-here/p.pigeonhole"]) == 2
    err = capsys.readouterr().err
    assert_one_error_line(err)
    assert "does not know" in err


IDS = {"beyond SQLite's integer": str(MAX_ID + 1), "twenty digits": "9" * 20, "superscript two": "²",
       "arabic-indic three": "٣", "zero": "0", "negative": "-3", "underscores": "1_000"}


ID_OPTIONS = {"resume-sort": "--sort-id", "undo-sort": "--sort-id", "models": "--activate"}


@pytest.mark.parametrize("value", IDS.values(), ids=IDS.keys())
@pytest.mark.parametrize("command", ID_OPTIONS)
def test_an_id_beyond_sqlite_or_not_ascii_digits_is_refused(command, value, project, capsys) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main([command, str(project.path), ID_OPTIONS[command], value])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert err.strip().splitlines()[-1].startswith(f"pigeonhole {command}: error: argument {ID_OPTIONS[command]}: ")


@pytest.mark.parametrize("value", ["٣", "1_000", "²", "3.0"])
def test_counts_are_ascii_whole_numbers(value, capsys) -> None:
    with pytest.raises(SystemExit):
        main(["suggest", "P", "--n", value])
    assert "expected a whole number" in capsys.readouterr().err


def test_ids_from_one_to_sqlites_largest_integer_are_accepted() -> None:
    assert record_id("1") == 1 and record_id(str(MAX_ID)) == MAX_ID and record_id(" 12 ") == 12
    assert image_reference("12") == 12
    assert image_reference("²") == path_argument("²").absolute()  # a file of that name, never int("²")


@pytest.mark.parametrize("value", [str(MAX_ID + 1), "9" * 20, "²", "٣", str(MAX_ID)])
def test_similar_and_dismiss_name_a_photo_by_any_id_in_one_sentence(value, project, capsys) -> None:
    for argv in (["similar", str(project.path), value], ["check", str(project.path), "--dismiss", "blurry", value]):
        try:
            code = main(argv)
        except SystemExit as exit_info:  # argparse's refusal: usage, then one error line
            code = exit_info.code
            err = capsys.readouterr().err
            assert "Traceback" not in err and err.strip().splitlines()[-1].startswith("pigeonhole similar: error:")
        else:
            assert_one_error_line(capsys.readouterr().err)
        assert code in (1, 2)


ENVIRONMENTS = {"world size a word": {"WORLD_SIZE": "x"}, "rank a word": {"WORLD_SIZE": "2", "RANK": "z"},
                "rank beyond the world": {"WORLD_SIZE": "2", "RANK": "5"},
                "local rank negative": {"WORLD_SIZE": "2", "RANK": "0", "LOCAL_RANK": "-1"},
                "world size zero": {"WORLD_SIZE": "0"}, "world size huge": {"WORLD_SIZE": "9" * 30},
                "timeout a word": {"PIGEONHOLE_DIST_TIMEOUT_S": "soon"},
                "timeout nan": {"PIGEONHOLE_DIST_TIMEOUT_S": "nan"}}


@pytest.mark.parametrize("environment", ENVIRONMENTS.values(), ids=ENVIRONMENTS.keys())
@pytest.mark.parametrize("command", ["status", "predict", "train"])
def test_torchruns_variables_that_make_no_sense_are_one_sentence(command, environment, project, monkeypatch,
                                                                 capsys) -> None:
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    assert main([command, str(project.path)]) == 1
    err = capsys.readouterr().err
    assert_one_error_line(err)
    assert "environment variable" in err


def test_empty_torchrun_variables_mean_one_process(project, monkeypatch, capsys) -> None:
    monkeypatch.setenv("WORLD_SIZE", "")
    monkeypatch.setenv("RANK", " ")
    assert main(["status", str(project.path)]) == 0


@pytest.mark.parametrize("command", ["predict", "train"])
def test_nproc_beyond_the_cores_starts_nothing(command, project, monkeypatch, capsys) -> None:
    started = []
    monkeypatch.setattr(subprocess, "Popen", lambda *a, **k: started.append(a))
    monkeypatch.setattr(desktop.cli.launch, "most_processes", lambda: 2)
    assert main([command, str(project.path), "--nproc", "1000"]) == 1
    err = capsys.readouterr().err
    assert_one_error_line(err)
    assert "1000" in err and "at most 2" in err
    assert started == []


def test_most_processes_is_the_cores_this_process_may_use() -> None:
    expected = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    assert desktop.cli.launch.most_processes() == max(2, expected)
