"""desktop.core.labels: set, clear, bulk, undo/redo round-trips."""

from __future__ import annotations

import pytest
from sqlalchemy import insert, select

from desktop.core.classes import add_class, list_classes
from desktop.core.labels import LabelChange, labels_of, redo, set_label, undo
from desktop.core.project import Project
from desktop.core.status import project_status
from desktop.db.engine import transaction
from desktop.db.models import Folder, Image, Label


def _images(project: Project, count: int) -> list[int]:
    with transaction(project.sessions) as session:
        folder = Folder(root=f"/photos/{count}")
        session.add(folder)
        session.flush()
        session.execute(insert(Image), [
            {"folder_id": folder.id, "rel_path": f"{i:05d}.jpg", "size": 1, "mtime": 0.0, "content_hash": f"h{i}",
             "width": 10, "height": 10, "missing": False} for i in range(count)])
        return list(session.scalars(select(Image.id).where(Image.folder_id == folder.id).order_by(Image.id)))


@pytest.fixture
def setup(project: Project):
    ids = _images(project, 5)
    cat, dog = add_class(project, "cat"), add_class(project, "dog")
    return project, ids, cat.id, dog.id


def test_set_undo_redo_round_trip(setup) -> None:
    project, ids, cat, dog = setup
    set_label(project, ids[:2], dog)
    state0 = labels_of(project, ids)
    change = set_label(project, ids[1:4], cat)
    assert change.before == {ids[1]: dog, ids[2]: None, ids[3]: None}
    assert change.after == dict.fromkeys(ids[1:4], cat)
    state1 = labels_of(project, ids)
    assert state1 == {ids[0]: dog, ids[1]: cat, ids[2]: cat, ids[3]: cat, ids[4]: None}
    undo(project, change)
    assert labels_of(project, ids) == state0
    redo(project, change)
    assert labels_of(project, ids) == state1
    undo(project, change)
    undo(project, change)  # undoing twice is harmless: same state
    assert labels_of(project, ids) == state0


def test_a_chain_of_changes_undoes_in_reverse(setup) -> None:
    project, ids, cat, dog = setup
    history = [set_label(project, [ids[0]], cat), set_label(project, [ids[0], ids[1]], dog),
               set_label(project, [ids[1]], None)]
    assert labels_of(project, ids[:2]) == {ids[0]: dog, ids[1]: None}
    for change in reversed(history):
        undo(project, change)
    assert labels_of(project, ids) == dict.fromkeys(ids)
    for change in history:
        redo(project, change)
    assert labels_of(project, ids[:2]) == {ids[0]: dog, ids[1]: None}


def test_clearing(setup) -> None:
    project, ids, cat, _ = setup
    set_label(project, ids, cat)
    change = set_label(project, ids[:3], None)
    assert labels_of(project, ids) == {ids[0]: None, ids[1]: None, ids[2]: None, ids[3]: cat, ids[4]: cat}
    status = project_status(project)
    assert (status.labelled, status.unlabelled, status.classes["cat"]) == (2, 3, 2)
    undo(project, change)
    assert set(labels_of(project, ids).values()) == {cat}


def test_change_truthiness_and_duplicates(setup) -> None:
    project, ids, cat, _ = setup
    first = set_label(project, [ids[0], ids[0], ids[1]], cat)
    assert first and first.image_ids == [ids[0], ids[1]]
    again = set_label(project, [ids[0], ids[1]], cat)
    assert not again  # nothing changed
    assert not LabelChange({}, {})


def test_source_is_recorded(setup) -> None:
    project, ids, cat, _ = setup
    set_label(project, [ids[0]], cat, source="prediction")
    set_label(project, [ids[1]], cat)
    with project.sessions() as session:
        sources = dict(session.execute(select(Label.image_id, Label.source)).all())
    assert sources == {ids[0]: "prediction", ids[1]: "user"}


def test_bulk_labelling_beyond_sqlite_parameter_limits(project: Project) -> None:
    ids = _images(project, 2500)  # more than the 900-id chunks and SQLite's old 999-variable limit
    cat, dog = add_class(project, "cat"), add_class(project, "dog")
    set_label(project, ids[::2], cat.id)
    change = set_label(project, ids, dog.id)
    assert len(change.before) == 2500
    assert sum(1 for v in change.before.values() if v == cat.id) == 1250
    assert [(c.name, c.count) for c in list_classes(project)] == [("cat", 0), ("dog", 2500)]
    undo(project, change)
    assert [(c.name, c.count) for c in list_classes(project)] == [("cat", 1250), ("dog", 0)]
    assert labels_of(project, ids[:4]) == {ids[0]: cat.id, ids[1]: None, ids[2]: cat.id, ids[3]: None}


def test_labels_of_unknown_images(project: Project) -> None:
    assert labels_of(project, [123, 456]) == {123: None, 456: None}
    assert labels_of(project, []) == {}
