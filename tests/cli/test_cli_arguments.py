"""What `pigeonhole` does with a mistyped command and with impossible option values: one clear line, no
traceback, and nothing created on disk."""

from __future__ import annotations

import pytest
from cli_helpers import assert_one_error_line

import desktop.cli
from desktop.cli import build_parser, main
from desktop.errors import PigeonholeError
from desktop.ml.options import DEVICES, InvalidTrainingOptions, TrainingOptions


@pytest.fixture
def opened_in_app(monkeypatch: pytest.MonkeyPatch) -> list[list[str]]:
    """Records what would have been opened in the app instead of starting Qt."""
    opened: list[list[str]] = []
    monkeypatch.setattr(desktop.cli, "gui_main", lambda argv=None: opened.append(list(argv or [])) or 0)
    return opened


def test_a_mistyped_command_is_refused_with_a_suggestion(tmp_path, monkeypatch, capsys, opened_in_app) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["imprt", "p.pigeonhole", "photos"]) == 2
    out, err = capsys.readouterr()
    assert err == "pigeonhole: error: unknown command 'imprt' (did you mean 'import'?).\n" and out == ""
    assert opened_in_app == [] and list(tmp_path.iterdir()) == []  # no app, no ./imprt/ project


def test_a_word_like_no_command_is_refused_too(tmp_path, monkeypatch, capsys, opened_in_app) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["zzzz"]) == 2
    assert_one_error_line(capsys.readouterr().err)
    assert opened_in_app == [] and list(tmp_path.iterdir()) == []


def test_a_project_or_a_path_opens_the_app(tmp_path, monkeypatch, project, opened_in_app) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "holiday").mkdir()
    existing = str(project.path)
    for arg in (existing, "holiday", "new.pigeonhole", "./elsewhere"):
        assert main([arg]) == 0
    assert opened_in_app == [[existing], ["holiday"], ["new.pigeonhole"], ["./elsewhere"]]


BAD = {
    "epochs zero": ["train", "P", "--epochs", "0"],
    "epochs negative": ["train", "P", "--epochs", "-5"],
    "epochs not a number": ["train", "P", "--epochs", "many"],
    "device unknown": ["train", "P", "--device", "foo"],
    "lr negative": ["train", "P", "--lr", "-1"],
    "lr zero": ["train", "P", "--lr", "0"],
    "lr nan": ["train", "P", "--lr", "nan"],
    "lr inf": ["train", "P", "--lr", "inf"],
    "seed 23 digits": ["train", "P", "--seed", "12345678901234567890123"],
    "seed negative": ["train", "P", "--seed", "-1"],
    "batch size zero": ["train", "P", "--batch-size", "0"],
    "mode unknown": ["train", "P", "--mode", "fast"],
    "duplicates threshold negative": ["duplicates", "P", "--threshold", "-0.1"],
    "duplicates threshold above 1": ["duplicates", "P", "--threshold", "1.5"],
    "duplicates threshold nan": ["duplicates", "P", "--threshold", "nan"],
    "label-issues n zero": ["label-issues", "P", "--n", "0"],
    "suggest n negative": ["suggest", "P", "--n", "-3"],
    "suggest by unknown": ["suggest", "P", "--by", "luck"],
    "models activate zero": ["models", "P", "--activate", "0"],
}


@pytest.mark.parametrize("argv", BAD.values(), ids=BAD.keys())
def test_impossible_values_get_usage_and_one_error_line(argv, capsys) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    out, err = capsys.readouterr()
    assert out == "" and "Traceback" not in err
    assert err.startswith("usage: pigeonhole ")
    error = err.strip().splitlines()[-1]
    assert error.startswith(f"pigeonhole {argv[0]}: error: argument {argv[2]}: ")
    assert repr(argv[3]) in error  # the value the user gave is named


def test_the_edges_of_the_ranges_are_accepted() -> None:
    parser = build_parser()
    args = parser.parse_args(["train", "P", "--epochs", "1", "--lr", "1e-4", "--seed", str(2**32 - 1),
                              "--batch-size", "1", "--device", "cpu"])
    assert (args.epochs, args.lr, args.seed, args.batch_size, args.device) == (1, 1e-4, 2**32 - 1, 1, "cpu")
    assert parser.parse_args(["duplicates", "P", "--threshold", "0"]).threshold == 0.0
    assert parser.parse_args(["duplicates", "P", "--threshold", "1"]).threshold == 1.0


BAD_OPTIONS = {
    "epochs": {"epochs": 0},
    "epochs float": {"epochs": 2.5},
    "batch size": {"batch_size": -1},
    "lr nan": {"learning_rate": float("nan")},
    "lr inf": {"learning_rate": float("inf")},
    "lr negative": {"learning_rate": -0.1},
    "seed": {"seed": 10**22},
    "seed negative": {"seed": -1},
    "device": {"device": "tpu"},
    "mode": {"mode": "fast"},
    "backbone": {"backbone": ""},
}


@pytest.mark.parametrize("options", BAD_OPTIONS.values(), ids=BAD_OPTIONS.keys())
def test_training_options_refuse_impossible_values_in_one_sentence(options) -> None:
    """The GUI and the API build TrainingOptions directly: they get the same check as the command line."""
    with pytest.raises(InvalidTrainingOptions) as error:
        TrainingOptions(**options)
    assert isinstance(error.value, PigeonholeError)
    message = str(error.value)
    assert "\n" not in message and message.endswith(".")


def test_the_devices_offered_are_the_ones_the_ml_layer_knows() -> None:
    from desktop.ml.device import DEVICES as DEVICE_CHOICES

    assert DEVICES == DEVICE_CHOICES


def test_cuda_on_a_machine_without_it_is_one_sentence(trained_project, capsys) -> None:
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    assert main(["train", str(trained_project.path), "--device", "cuda"]) == 1
    out, err = capsys.readouterr()
    assert out == ""
    assert_one_error_line(err)
    assert "CUDA" in err
