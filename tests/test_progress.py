"""PhaseProgress: done of total of a phase, with the time left where there is a total to go by."""

from __future__ import annotations

from desktop.progress import PhaseProgress, Progress


def test_a_phase_reports_done_of_total_with_the_time_left_and_none_without_a_total() -> None:
    events: list[Progress] = []
    report = PhaseProgress(events.append, "downloading weights", 4)
    report(0)
    report(2)
    report(4)
    assert [(e.phase, e.done, e.total) for e in events] == [("downloading weights", 0, 4),
                                                            ("downloading weights", 2, 4),
                                                            ("downloading weights", 4, 4)]
    assert events[0].eta_seconds is None  # no rate yet
    assert events[1].eta_seconds is not None and events[1].eta_seconds >= 0.0
    assert events[2].eta_seconds == 0.0
    unknown = PhaseProgress(events.append, "downloading weights", 0)  # no Content-Length
    unknown(1 << 16)
    assert (events[-1].done, events[-1].total, events[-1].eta_seconds) == (1 << 16, 0, None)
    PhaseProgress(None, "computing features", 3)(1)  # nobody listening: nothing to tell
