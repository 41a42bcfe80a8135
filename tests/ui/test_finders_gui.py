"""The Model menu's finders: Review Likely Label Mistakes leads with the few the model is sure about, not a third
of the labels: the rest comes with "Show N more" in the view's bar. Find Near-Duplicates marks its groups on the
tiles."""

from __future__ import annotations

from pathlib import Path

from desktop.core.label_issues import LabelIssue


def _issue(image_id: int, score: float) -> LabelIssue:
    return LabelIssue(image_id, Path(f"/photos/{image_id}.jpg"), "cats", "dogs", score,
                      {"cats": 1 - score, "dogs": score}, score >= 0.9)


def test_the_review_shows_the_likely_mistakes_first_and_the_rest_on_request(main_window, qtbot):
    review = main_window.controllers.label_review
    issues = [_issue(7, 0.98), _issue(3, 0.93), _issue(5, 0.7), _issue(9, 0.6), _issue(2, 0.55)]
    messages = []
    review.message.connect(messages.append)
    review._on_found(issues)  # what the worker hands back
    shown = main_window.context.images.image_filter
    assert shown.image_ids == (7, 3) and shown.title == "2 likely label mistakes"
    assert messages[-1].startswith("2 labels look wrong") and "3 less certain ones: Show more." in messages[-1]
    assert main_window.more_button.isVisibleTo(main_window) and main_window.more_button.text() == "Show 3 more"

    main_window.more_button.click()
    shown = main_window.context.images.image_filter
    assert shown.image_ids == (7, 3, 5, 9, 2) and shown.title == "5 doubtful labels"
    assert not main_window.more_button.isVisibleTo(main_window)

    review._on_found(issues[:2])  # nothing less certain: no button
    assert not main_window.more_button.isVisibleTo(main_window)
    main_window._show_all_photos()
    review._on_found(issues[2:])  # none clearly wrong: the doubtful ones, said so
    assert main_window.context.images.image_filter.image_ids == (5, 9, 2)
    assert messages[-1].startswith("No label looks clearly wrong; 3 labels less typical")


def test_find_near_duplicates_marks_each_group_on_its_tiles(main_window):
    from types import SimpleNamespace

    from desktop.ui.models.images import GroupMark

    groups = [SimpleNamespace(image_ids=(4, 9, 2), straddles_split=False),
              SimpleNamespace(image_ids=(5, 6), straddles_split=False)]
    main_window.controllers.duplicates._on_found(groups)
    images = main_window.context.images
    assert images.image_filter.image_ids == (4, 9, 2, 5, 6)
    assert images.groups == {4: GroupMark(1, 3, False), 9: GroupMark(1, 3, False), 2: GroupMark(1, 3, False),
                             5: GroupMark(2, 2, False), 6: GroupMark(2, 2, False)}
    main_window._show_all_photos()
    assert images.groups == {}  # another view: no marks
