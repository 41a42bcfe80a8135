"""desktop.core.classes: adding, naming rules, shortcuts, colours, order, rename, merge and delete."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from desktop.core.classes import (
    PALETTE,
    ClassError,
    add_class,
    delete_class,
    list_classes,
    merge_classes,
    move_class,
    rename_class,
    set_colour,
    set_shortcut,
)
from desktop.core.labels import labels_of, set_label
from desktop.core.project import Project
from desktop.core.status import project_status
from desktop.db.engine import transaction
from desktop.db.models import Folder, Image, Label


def _images(project: Project, count: int) -> list[int]:
    with transaction(project.sessions) as session:
        folder = Folder(root="/photos")
        session.add(folder)
        session.flush()
        rows = [Image(folder_id=folder.id, rel_path=f"{i}.jpg", size=1, mtime=0.0, content_hash=f"h{i}",
                      width=10, height=10) for i in range(count)]
        session.add_all(rows)
        session.flush()
        return [row.id for row in rows]


def _summary(project: Project) -> list[tuple[str, str | None, int]]:
    return [(c.name, c.shortcut, c.count) for c in list_classes(project)]


def test_add_assigns_colours_and_shortcuts_in_order(project: Project) -> None:
    infos = [add_class(project, f"class {i}") for i in range(11)]
    assert [info.shortcut for info in infos] == [*"123456789", None, None]
    assert [info.colour for info in infos] == list(PALETTE[:11])
    assert len({info.colour for info in infos}) == 11
    assert [info.position for info in infos] == list(range(11))
    assert [c.name for c in list_classes(project)] == [f"class {i}" for i in range(11)]


def test_freed_shortcut_and_colour_are_reused(project: Project) -> None:
    cat, dog, _ = (add_class(project, name) for name in ("cat", "dog", "bird"))
    delete_class(project, dog.id)
    fox = add_class(project, "fox")
    assert (fox.shortcut, fox.colour) == (dog.shortcut, dog.colour)
    assert fox.position == 3  # at the end of the list
    assert cat.shortcut == "1"


def test_colours_cycle_after_the_palette_is_used_up(project: Project) -> None:
    infos = [add_class(project, f"c{i}") for i in range(len(PALETTE) + 2)]
    assert infos[len(PALETTE)].colour in PALETTE


def test_duplicate_names_are_refused_case_insensitively(project: Project) -> None:
    add_class(project, "Cat")
    for clash in ("cat", "CAT", " cat ", "Cat"):
        with pytest.raises(ClassError, match="already a class"):
            add_class(project, clash)
    assert [c.name for c in list_classes(project)] == ["Cat"]


def test_duplicate_non_ascii_names_are_refused(project: Project) -> None:
    """SQLite's lower() only folds ASCII; "Été" and "été" must still be the same class."""
    add_class(project, "Été")
    with pytest.raises(ClassError, match="already a class"):
        add_class(project, "été")
    add_class(project, "Straße")
    with pytest.raises(ClassError, match="already a class"):
        add_class(project, "STRASSE")  # casefold, not just lower
    assert [c.name for c in list_classes(project)] == ["Été", "Straße"]


def test_whitespace_is_normalised_and_duplicates_caught(project: Project) -> None:
    info = add_class(project, "  big   cat ")
    assert info.name == "big cat"
    with pytest.raises(ClassError, match="already a class"):
        add_class(project, "big  cat")


@pytest.mark.parametrize("name", ["a/b", "a\\b", "c:d", "why?", "star*", "<x>", "pipe|", 'quote"', ".", ".."])
def test_names_that_cannot_be_folder_names_are_refused(project: Project, name: str) -> None:
    with pytest.raises(ClassError, match="cannot be a class name"):
        add_class(project, name)
    assert list_classes(project) == []


@pytest.mark.parametrize("name", ["_unsure", "_", "   ", ""])
def test_empty_and_reserved_names_are_refused(project: Project, name: str) -> None:
    with pytest.raises(ClassError):
        add_class(project, name)
    assert list_classes(project) == []


def test_non_ascii_and_inner_underscore_names_are_fine(project: Project) -> None:
    for name in ("猫", "été", "a_b", "Golden Retriever"):
        add_class(project, name)
    assert len(list_classes(project)) == 4


def test_rename(project: Project) -> None:
    cat = add_class(project, "cat")
    dog = add_class(project, "dog")
    rename_class(project, cat.id, "  kitten ")
    assert [c.name for c in list_classes(project)] == ["kitten", "dog"]
    rename_class(project, cat.id, "Kitten")  # changing only the case of its own name is fine
    assert list_classes(project)[0].name == "Kitten"
    with pytest.raises(ClassError, match="merge the two instead"):
        rename_class(project, cat.id, "DOG")
    with pytest.raises(ClassError, match="cannot be a class name"):
        rename_class(project, dog.id, "dogs/puppies")
    with pytest.raises(ClassError):
        rename_class(project, dog.id, "_dog")
    assert [c.name for c in list_classes(project)] == ["Kitten", "dog"]


def test_merge_moves_labels_and_deletes_the_source(project: Project) -> None:
    ids = _images(project, 6)
    cat, kitten, dog = (add_class(project, n) for n in ("cat", "kitten", "dog"))
    set_label(project, ids[:2], cat.id)
    set_label(project, ids[2:5], kitten.id)
    set_label(project, ids[5:], dog.id)
    moved = merge_classes(project, kitten.id, cat.id)
    assert moved == 3
    assert _summary(project) == [("cat", "1", 5), ("dog", "3", 1)]
    assert set(labels_of(project, ids[:5]).values()) == {cat.id}
    status = project_status(project)
    assert (status.labelled, status.classes) == (6, {"cat": 5, "dog": 1})
    # The freed shortcut goes to the next new class.
    assert add_class(project, "bird").shortcut == "2"
    with pytest.raises(ClassError, match="two different"):
        merge_classes(project, cat.id, cat.id)


def test_merge_of_an_empty_class(project: Project) -> None:
    cat, empty = add_class(project, "cat"), add_class(project, "empty")
    assert merge_classes(project, empty.id, cat.id) == 0
    assert _summary(project) == [("cat", "1", 0)]


def test_delete_removes_labels_but_keeps_images(project: Project) -> None:
    ids = _images(project, 4)
    cat, dog = add_class(project, "cat"), add_class(project, "dog")
    set_label(project, ids[:3], cat.id)
    set_label(project, ids[3:], dog.id)
    assert delete_class(project, cat.id) == 3
    assert _summary(project) == [("dog", "2", 1)]
    with project.sessions() as session:
        assert session.scalar(select(func.count()).select_from(Image)) == 4
        assert session.scalar(select(func.count()).select_from(Label)) == 1
    status = project_status(project)
    assert (status.images, status.labelled, status.unlabelled) == (4, 1, 3)
    assert labels_of(project, ids) == {ids[0]: None, ids[1]: None, ids[2]: None, ids[3]: dog.id}


def test_shortcut_reassignment(project: Project) -> None:
    cat, dog, bird = (add_class(project, n) for n in ("cat", "dog", "bird"))
    set_shortcut(project, bird.id, "1")  # taken from cat
    assert _summary(project) == [("cat", None, 0), ("dog", "2", 0), ("bird", "1", 0)]
    set_shortcut(project, cat.id, "9")
    set_shortcut(project, dog.id, None)
    assert _summary(project) == [("cat", "9", 0), ("dog", None, 0), ("bird", "1", 0)]
    for bad in ("0", "a", "12", ""):
        with pytest.raises(ClassError, match="digits 1 to 9"):
            set_shortcut(project, cat.id, bad)
    assert _summary(project)[0] == ("cat", "9", 0)
    shortcuts = [c.shortcut for c in list_classes(project) if c.shortcut]
    assert len(shortcuts) == len(set(shortcuts))


def test_move_and_recolour(project: Project) -> None:
    a, b, c = (add_class(project, n) for n in "abc")
    move_class(project, c.id, 0)
    assert [x.name for x in list_classes(project)] == ["c", "a", "b"]
    move_class(project, c.id, 99)
    assert [x.name for x in list_classes(project)] == ["a", "b", "c"]
    move_class(project, a.id, -5)
    assert [x.name for x in list_classes(project)] == ["a", "b", "c"]
    assert [x.position for x in list_classes(project)] == [0, 1, 2]
    set_colour(project, b.id, "#123456")
    assert list_classes(project)[1].colour == "#123456"
