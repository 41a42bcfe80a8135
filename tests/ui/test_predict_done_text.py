"""The status bar's sentence when predicting ends."""

from __future__ import annotations

from desktop.core.predicting import PredictSummary
from desktop.ui.predicting import done_text


def test_done_text_counts_in_words_and_says_when_nothing_was_left() -> None:
    assert done_text(PredictSummary(3, predicted=1, already=0, seconds=0.25)) == "Predicted 1 photo in 0.2 s."
    assert done_text(PredictSummary(3, predicted=1200, already=5, seconds=3.0)) == "Predicted 1,200 photos in 3.0 s."
    assert done_text(PredictSummary(3, predicted=2, already=0, unreadable=[("a.jpg", "broken")], seconds=1.0)) \
        == "Predicted 2 photos in 1.0 s, 1 could not be read."
    # A model made active again has every photo predicted already: not "Predicted 0 photos in 0.0 s."
    assert done_text(PredictSummary(3, predicted=0, already=30)) == "Every photo already has this model's prediction."
    assert done_text(PredictSummary(3, predicted=0, already=0)) == "There are no photos to predict."
