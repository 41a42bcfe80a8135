"""The shared query pieces (desktop/db/queries.py) on a real project database file."""

from __future__ import annotations

import os
from pathlib import Path

from sqlalchemy import select

from desktop.core.project import Project
from desktop.db.engine import transaction
from desktop.db.models import Folder, Image, Prediction, TrainedModel
from desktop.db.queries import (
    BY_PATH,
    IMAGE_PATH,
    current_prediction,
    image_path,
    in_chunks,
    prediction_on_this_file,
    with_folder,
)

UNDECODABLE = os.fsdecode(b"caf\xe9.jpg")  # a non-UTF-8 name, stored as a BLOB


def _add_images(project: Project, root: str, names: list[str]) -> list[int]:
    with transaction(project.sessions) as session:
        folder = Folder(root=root)
        session.add(folder)
        session.flush()
        images = [Image(folder_id=folder.id, rel_path=name, size=1, mtime=0.0, content_hash=f"hash-{index}")
                  for index, name in enumerate(names)]
        session.add_all(images)
        session.flush()
        return [image.id for image in images]


def _add_model(project: Project) -> int:
    with transaction(project.sessions) as session:
        model = TrainedModel(file="m.pt", backbone="b", mode="frozen", weights_source="w", class_names=["a", "b"],
                             train_images=1, val_images=1, val_accuracy=None, metrics={}, settings={},
                             device="cpu", seconds=0.0)
        session.add(model)
        session.flush()
        return model.id


def _predict(project: Project, model_id: int, image_id: int, content_hash: str) -> None:
    with transaction(project.sessions) as session:
        session.add(Prediction(model_id=model_id, image_id=image_id, content_hash=content_hash,
                               probabilities=[0.6, 0.4], predicted_index=0, confidence=0.6, margin=0.2))


def test_image_path_joins_root_and_posix_rel_path(tmp_path: Path):
    assert image_path(str(tmp_path), "cats/01.jpg") == tmp_path / "cats" / "01.jpg"


def test_image_path_column_selects_each_file_as_a_path_in_path_order(project: Project, tmp_path: Path):
    _add_images(project, str(tmp_path / "b"), ["2.jpg", "sub/1.jpg"])
    _add_images(project, str(tmp_path / "a"), ["z.jpg", UNDECODABLE])
    with project.sessions() as session:
        rows = session.execute(with_folder(select(Image.id, IMAGE_PATH)).order_by(*BY_PATH)).all()
    paths = [row.path for row in rows]
    assert all(isinstance(path, Path) for path in paths)
    # SQLite sorts text before BLOBs, so the undecodable name comes last in its folder.
    assert paths == [tmp_path / "a" / "z.jpg", tmp_path / "a" / UNDECODABLE,
                     tmp_path / "b" / "2.jpg", tmp_path / "b" / "sub" / "1.jpg"]


def test_in_chunks_splits_into_slices_of_at_most_size():
    values = list(range(2_000))
    chunks = list(in_chunks(values))
    assert [len(chunk) for chunk in chunks] == [900, 900, 200]
    assert [value for chunk in chunks for value in chunk] == values
    assert list(in_chunks([])) == []
    assert list(in_chunks([1, 2, 3], size=2)) == [[1, 2], [3]]


def test_in_chunks_passes_more_ids_than_sqlite_allows_in_one_statement(project: Project):
    ids = _add_images(project, "/photos", [f"{i}.jpg" for i in range(2_500)])
    with project.sessions() as session:
        found = [image_id for chunk in in_chunks(ids)
                 for image_id in session.scalars(select(Image.id).where(Image.id.in_(chunk)))]
    assert len(list(in_chunks(ids))) == 3
    assert sorted(found) == sorted(ids)


def test_a_prediction_counts_only_for_the_files_current_content(project: Project):
    fresh, edited, unpredicted = _add_images(project, "/photos", ["fresh.jpg", "edited.jpg", "none.jpg"])
    model_id = _add_model(project)
    other_model = _add_model(project)
    _predict(project, model_id, fresh, "hash-0")
    _predict(project, model_id, edited, "hash-before-the-edit")
    _predict(project, other_model, unpredicted, "hash-2")
    with project.sessions() as session:
        on_file = session.scalars(select(Image.id).join(Prediction, prediction_on_this_file())).all()
        current = dict(session.execute(select(Image.id, Prediction.id)
                                       .outerjoin(Prediction, current_prediction(model_id))).all())
        without_model = session.scalars(select(Prediction.id)
                                        .select_from(Image).join(Prediction, current_prediction(None))).all()
    assert sorted(on_file) == [fresh, unpredicted]
    assert current[fresh] is not None
    assert current[edited] is None and current[unpredicted] is None
    assert without_model == []
