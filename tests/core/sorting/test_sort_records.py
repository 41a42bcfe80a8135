"""The sort's typed records: a SortRequest checked where it is made, SortSettings (the sort row's settings JSON)
read back whatever an older version or a damaged row wrote, and the stop table's sentences, one per kind, for a
run, an undo and a sort not started."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from desktop.core.sorting.model import SortError, SortRequest, fraction_problem
from desktop.core.sorting.settings import PlanCounts, SortSettings
from desktop.core.sorting.stops import PROJECT_KINDS, Stop, StopKind


def test_settings_survive_the_database_as_json() -> None:
    settings = SortSettings(follow_labels=False, existing_dirs=("/d/cat",), created_dirs=("/d",), token="ab12cd34",
                            plan=PlanCounts(from_labels=3, skipped=1, expected_mistakes=0.25),
                            rule={"precision": 0.95, "thresholds": {"cat": 0.7, "dog": None}})
    settings = settings.restoring(7, "/photos/a (2).jpg")
    stored = json.loads(json.dumps(settings.as_dict()))
    assert SortSettings.from_dict(stored) == settings
    assert stored["restored_to"] == {"7": "/photos/a (2).jpg"} and "created_folder_id" not in stored


def test_an_older_or_damaged_record_reads_as_the_defaults() -> None:
    assert SortSettings.from_dict(None) == SortSettings.from_dict({}) == SortSettings()
    assert SortSettings().plan.expected_mistakes is None  # journalled before it was recorded
    damaged = SortSettings.from_dict({"follow_labels": "no", "existing_dirs": "/d", "token": 5,
                                      "plan": {"skipped": "2", "from_labels": True, "expected_mistakes": "x"},
                                      "rule": [1], "restored_to": {"3": 4}, "created_folder_id": 1.5})
    assert damaged == SortSettings()


@pytest.mark.parametrize("kind", list(StopKind))
def test_every_stop_is_one_sentence_that_says_nothing_was_lost(kind: StopKind) -> None:
    stop = Stop(kind, Path("/media/card/sorted"), None, "permission denied")
    for text, did, again in ((stop.message(2, 6), "sorted", "resume"),
                             (stop.message(1, 2, undo=True), "put back", "undo again")):
        assert f"photos were {did} and nothing was lost." in text and text.endswith(f" {again}.")
        assert "{" not in text and ".." not in text and text.count(". ") <= 3
    not_started = stop.not_started()
    assert "so the sort was not started and no photo was touched." in not_started
    assert not_started.endswith(" sort again.") and "{" not in not_started


def test_the_sentences_of_the_stops() -> None:
    where = Path("/media/card/sorted")
    assert Stop(StopKind.UNWRITABLE, where, "Cannot write.", "the drive is read-only").message(2, 6) == (
        "Cannot write to /media/card/sorted: the drive is read-only. 2 of 6 photos were sorted and nothing was "
        "lost. Make the folder writable, then resume.")
    assert Stop(StopKind.DESTINATION_FULL, where).message(0, 3, undo=True) == (
        "The disk is full: 0 of 3 photos were put back and nothing was lost. Free some space, then undo again.")
    assert Stop(StopKind.PROJECT_BUSY, where).not_started() == (
        "The project's database is busy with another program, so the sort was not started and no photo was "
        "touched. When it has finished, sort again.")
    assert Stop(StopKind.LINK, where, None, "disk I/O error").not_started() == (
        "The project's database cannot be written (disk I/O error), so the sort was not started and no photo was "
        f"touched. Check the disk holding {where}, then sort again.")
    assert StopKind.LINK not in PROJECT_KINDS


@pytest.mark.parametrize(("fields", "sentence"), [
    ({"mode": "rename"}, "Unknown sort mode “rename”: use “copy” or “move”."),
    ({"threshold": 1.5}, "The confidence threshold must be between 0 and 1 (for example 0.6)."),
    ({"threshold": float("nan")}, "The confidence threshold must be between 0 and 1 (for example 0.6)."),
    ({"precision": 1.0}, "The precision must be between 0 and 1 (for example 0.95)."),
])
def test_a_request_is_checked_where_it_is_made(fields: dict, sentence: str) -> None:
    with pytest.raises(SortError) as caught:
        SortRequest("/tmp/sorted", **fields)
    assert str(caught.value) == sentence


def test_the_command_line_says_the_same_rule_with_its_option_names() -> None:
    assert fraction_problem("precision", 0.0, "--precision") == ("--precision must be between 0 and 1 (for example "
                                                                  "0.95).")
    assert fraction_problem("threshold", 0.0, "--threshold") is None
    assert fraction_problem("precision", None, "--precision") is None  # not asked for
    assert SortRequest("/tmp/sorted", threshold=1.0, precision=0.5).threshold == 1.0
