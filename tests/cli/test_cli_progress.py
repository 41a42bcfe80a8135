"""The progress bar: what it draws on a terminal, how often, and that it stays off pipes and --json output."""

from __future__ import annotations

import io
import json
import sys
from pathlib import Path

import pytest
from cli_helpers import FakeTerminal, terminal_on_stderr

from desktop.cli import main
from desktop.cli.progress import ProgressBar, format_duration


class Clock:
    """A clock the test moves by hand: throttling and ETAs without timed assertions."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _draws(stream: io.StringIO) -> list[str]:
    """Every state of the bar written so far (each redraw starts with a carriage return)."""
    return [part.rstrip("\n").removesuffix("\033[K") for part in stream.getvalue().split("\r") if part.strip()]


def test_the_bar_shows_label_fraction_count_and_time_left() -> None:
    stream, clock = FakeTerminal(), Clock()
    bar = ProgressBar("Training", unit="photos", stream=stream, clock=clock)
    bar.update(31, 50, eta=12)
    assert _draws(stream) == ["Training ▕████████████░░░░░░░░▏ 62% 31/50 photos · 0:12 left"]


def test_without_an_eta_the_time_left_comes_from_the_rate_so_far() -> None:
    stream, clock = FakeTerminal(), Clock()
    bar = ProgressBar("Predicting", unit="photos", stream=stream, clock=clock)
    bar.update(10, 110)
    clock.now += 20  # 50 photos in 20 s: the remaining 50 take 20 s more
    bar.update(60, 110)
    assert _draws(stream)[-1].endswith("60/110 photos · 0:20 left")


def test_redraws_are_throttled_but_the_last_state_is_always_drawn() -> None:
    stream, clock = FakeTerminal(), Clock()
    bar = ProgressBar("Reading", unit="photos", stream=stream, clock=clock)
    for done in range(1000):
        bar.update(done, 1000)
    assert len(_draws(stream)) == 1  # all within the same instant: drawn once
    clock.now += 0.2
    bar.update(500, 1000)
    bar.update(1000, 1000)  # finished: drawn at once
    assert len(_draws(stream)) == 3
    assert _draws(stream)[-1].endswith("100% 1,000/1,000 photos")
    bar.close()
    assert stream.getvalue().endswith("\n")  # the next output starts on a line of its own


def test_a_new_label_is_drawn_at_once() -> None:
    stream, clock = FakeTerminal(), Clock()
    bar = ProgressBar("Loading", stream=stream, clock=clock)
    bar.update(0, 0)
    bar.update(0, 20, label="Computing features", unit="photos")
    assert [draw.split(" ")[0] for draw in _draws(stream)] == ["Loading", "Computing"]


def test_unknown_amount_of_work_shows_the_time_elapsed() -> None:
    stream, clock = FakeTerminal(), Clock()
    bar = ProgressBar("Exporting the model to ONNX", stream=stream, clock=clock)
    clock.now += 75
    with bar.ticking(interval=60):  # the first state is drawn at once; the ticker never fires in this test
        pass
    assert _draws(stream)[0] == "Exporting the model to ONNX · 1:15"
    assert stream.getvalue().endswith("\n")


def test_a_long_label_gives_way_to_the_numbers_on_a_narrow_terminal() -> None:
    bar = ProgressBar("Cross-validating the classifier on a great many photos", unit="fits",
                      stream=FakeTerminal(), clock=Clock())
    bar.update(3, 30, eta=70)
    line = bar.render(width=60)
    assert len(line) == 60 and line.endswith("10% 3/30 fits · 1:10 left") and "…" in line


def test_notes_go_above_the_bar_and_the_bar_comes_back() -> None:
    stream, clock = FakeTerminal(), Clock()
    bar = ProgressBar("Training", stream=stream, clock=clock)
    bar.update(1, 4)
    bar.note("batch size halved\x1b[2J")
    text = stream.getvalue()
    assert "\r\033[Knote: batch size halved\\x1b[2J\n" in text  # cleared line, escaped name, own line
    assert text.endswith("1/4\033[K")  # redrawn below the note


def test_nothing_is_drawn_when_stderr_is_not_a_terminal() -> None:
    stream = io.StringIO()  # a pipe or a log file
    bar = ProgressBar("Training", stream=stream, clock=Clock())
    bar.update(1, 2)
    bar.update(2, 2)
    bar.close()
    assert stream.getvalue() == ""
    bar.note("kept")
    assert stream.getvalue() == "note: kept\n"


def test_a_terminal_that_cannot_show_the_blocks_gets_ascii() -> None:
    class AsciiTerminal(FakeTerminal):
        encoding = "ascii"

    stream = AsciiTerminal()
    ProgressBar("Training", stream=stream, clock=Clock()).update(1, 4, eta=3)
    assert _draws(stream) == ["Training [#####---------------] 25% 1/4 - 0:03 left"]


@pytest.mark.parametrize(("seconds", "shown"), [(0.4, "0:00"), (7, "0:07"), (754, "12:34"), (3723, "1:02:03")])
def test_format_duration(seconds: float, shown: str) -> None:
    assert format_duration(seconds) == shown


# --- the commands --------------------------------------------------------------------------------------------

def test_import_draws_the_bar_on_a_terminal(photo_folder, tmp_path, capsys, monkeypatch) -> None:
    terminal_stderr = terminal_on_stderr(monkeypatch)
    photos = photo_folder({"cats": 3, "dogs": 3})
    assert main(["import", str(tmp_path / "p"), str(photos)]) == 0
    drawn = terminal_stderr.getvalue()
    assert "\r" in drawn and "Reading" in drawn and "100% 6/6 photos" in drawn
    assert "6 imported" in capsys.readouterr().out


def test_predict_draws_the_bar_on_a_terminal_and_stdout_stays_json(trained_project, capsys, monkeypatch) -> None:
    terminal_stderr = terminal_on_stderr(monkeypatch)
    assert main(["predict", str(trained_project.path)]) == 0
    assert "\r" in terminal_stderr.getvalue() and "100% 24/24 photos" in terminal_stderr.getvalue()
    assert capsys.readouterr().out.startswith("Model ")
    terminal_stderr.seek(0)
    terminal_stderr.truncate()
    assert main(["predict", str(trained_project.path), "--force", "--json"]) == 0
    assert terminal_stderr.getvalue() == ""
    assert json.loads(capsys.readouterr().out)["predicted"] == 24


def test_train_and_models_bars_on_a_terminal_none_under_json(trained_project, capsys, monkeypatch) -> None:
    terminal_stderr = terminal_on_stderr(monkeypatch)
    path = str(trained_project.path)
    assert main(["train", path, "--mode", "frozen", "--epochs", "2"]) == 0
    drawn = terminal_stderr.getvalue()
    assert "\r" in drawn and "epochs" in drawn and "100%" in drawn
    assert main(["models", path, "--evaluate"]) == 0
    assert "2/2 models" in terminal_stderr.getvalue()
    capsys.readouterr()

    terminal_stderr.seek(0)
    terminal_stderr.truncate()
    assert main(["models", path, "--evaluate", "--json"]) == 0
    assert terminal_stderr.getvalue() == ""
    assert len(json.loads(capsys.readouterr().out)["models"]) == 2


def test_no_bar_when_stderr_is_not_a_terminal(trained_project, photo_folder, tmp_path, capsys) -> None:
    assert not sys.stderr.isatty()  # pytest captures it: like a pipe
    assert main(["import", str(tmp_path / "p"), str(photo_folder({"cats": 2}))]) == 0
    assert main(["predict", str(trained_project.path)]) == 0
    assert "\r" not in capsys.readouterr().err


def test_a_real_terminal_gets_the_bar_and_stdout_the_result(photo_folder, tmp_path) -> None:
    """`pigeonhole import` in a child process whose stderr is a pseudo-terminal, as in a shell."""
    import os
    import pty
    import select
    import subprocess

    photos = photo_folder({"cats": 3})
    leader, follower = pty.openpty()
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2]), "COLUMNS": "100"}
    child = subprocess.Popen([sys.executable, "-m", "desktop", "import", str(tmp_path / "p"), str(photos)],
                             stdout=subprocess.PIPE, stderr=follower, env=env)
    os.close(follower)
    drawn = b""
    while True:  # read as it comes: a full terminal buffer would block the child
        ready, _, _ = select.select([leader], [], [], 60)
        if not ready:
            break
        try:
            chunk = os.read(leader, 4096)
        except OSError:  # EIO: the child closed its end
            break
        if not chunk:
            break
        drawn += chunk
    out = child.communicate(timeout=60)[0].decode()
    os.close(leader)
    assert child.returncode == 0
    assert "\r" in drawn.decode() and "100% 3/3 photos" in drawn.decode()
    assert "3 imported" in out and "\r" not in out
