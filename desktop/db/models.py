"""The project's tables. Paths inside a folder are stored relative to its root so roots can be re-linked."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.types import TypeDecorator

# Named constraints keep Alembic batch migrations on SQLite deterministic.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class FilePath(TypeDecorator):
    """A file name or path exactly as the file system gave it, even when it is not valid UTF-8.

    On POSIX a name is bytes; Python shows undecodable bytes as lone surrogates (``os.fsdecode``), which SQLite
    text cannot hold. Such a path is stored as a BLOB of its bytes instead (a BLOB never equals a text value,
    and no valid text is a non-UTF-8 name, so uniqueness holds) and comes back as the same ``str``. Valid
    names stay text, so existing projects need no migration.
    """

    impl = String
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return os.fsencode(value)
        return value

    def process_result_value(self, value, dialect):
        return os.fsdecode(value) if isinstance(value, bytes) else value


def utcnow() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class Folder(Base):
    """A folder the user added; every image belongs to exactly one."""

    __tablename__ = "folders"

    id: Mapped[int] = mapped_column(primary_key=True)
    root: Mapped[str] = mapped_column(FilePath, unique=True)
    added_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    labels_from_subfolders: Mapped[bool] = mapped_column(Boolean, default=False)

    images: Mapped[list[Image]] = relationship(back_populates="folder", cascade="all, delete-orphan")


class Image(Base):
    __tablename__ = "images"
    __table_args__ = (
        UniqueConstraint("folder_id", "rel_path", name="uq_images_folder_path"),
        Index("ix_images_content_hash", "content_hash"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    folder_id: Mapped[int] = mapped_column(ForeignKey("folders.id", ondelete="CASCADE"), index=True)
    rel_path: Mapped[str] = mapped_column(FilePath)  # POSIX separators, relative to Folder.root
    size: Mapped[int] = mapped_column(Integer)
    mtime: Mapped[float] = mapped_column(Float)
    content_hash: Mapped[str] = mapped_column(String(64))
    width: Mapped[int | None] = mapped_column(Integer)
    height: Mapped[int | None] = mapped_column(Integer)
    # None when the image decodes; otherwise one sentence saying why it cannot be used.
    error: Mapped[str | None] = mapped_column(String)
    missing: Mapped[bool] = mapped_column(Boolean, default=False)
    added_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    # "train" or "val", given once when the image is first used for training and kept across retrains,
    # so validation numbers of successive models are measured on the same images.
    split: Mapped[str | None] = mapped_column(String(8))

    folder: Mapped[Folder] = relationship(back_populates="images")
    label: Mapped[Label | None] = relationship(back_populates="image", cascade="all, delete-orphan")


class ImageClass(Base):
    """A class the user sorts images into. ``position`` orders classes and gives keys 1-9 their meaning."""

    __tablename__ = "classes"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String, unique=True)
    colour: Mapped[str] = mapped_column(String(7))
    shortcut: Mapped[str | None] = mapped_column(String(1))
    position: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)

    labels: Mapped[list[Label]] = relationship(back_populates="image_class", cascade="all, delete-orphan")


class Label(Base):
    """The human label of an image: at most one per image."""

    __tablename__ = "labels"

    image_id: Mapped[int] = mapped_column(ForeignKey("images.id", ondelete="CASCADE"), primary_key=True)
    class_id: Mapped[int] = mapped_column(ForeignKey("classes.id", ondelete="CASCADE"), index=True)
    source: Mapped[str] = mapped_column(String(16), default="user")  # user | folder | prediction
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)

    image: Mapped[Image] = relationship(back_populates="label")
    image_class: Mapped[ImageClass] = relationship(back_populates="labels")


class TrainedModel(Base):
    """A trained classifier: its checkpoint file (relative to the project folder) and its metrics."""

    __tablename__ = "models"

    id: Mapped[int] = mapped_column(primary_key=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    file: Mapped[str] = mapped_column(String)
    backbone: Mapped[str] = mapped_column(String)
    mode: Mapped[str] = mapped_column(String(16))  # frozen | finetune
    weights_source: Mapped[str] = mapped_column(String)
    class_names: Mapped[list[str]] = mapped_column(JSON)  # in output order
    train_images: Mapped[int] = mapped_column(Integer)
    val_images: Mapped[int] = mapped_column(Integer)
    val_accuracy: Mapped[float | None] = mapped_column(Float)
    metrics: Mapped[dict[str, Any]] = mapped_column(JSON)
    settings: Mapped[dict[str, Any]] = mapped_column(JSON)
    device: Mapped[str] = mapped_column(String(16))
    seconds: Mapped[float] = mapped_column(Float)
    note: Mapped[str] = mapped_column(String, default="")
    is_active: Mapped[bool] = mapped_column(Boolean, default=False)


class Prediction(Base):
    """One model's probabilities for one image, valid while the image's content hash is unchanged."""

    __tablename__ = "predictions"
    __table_args__ = (UniqueConstraint("model_id", "image_id", name="uq_predictions_model_image"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    model_id: Mapped[int] = mapped_column(ForeignKey("models.id", ondelete="CASCADE"), index=True)
    image_id: Mapped[int] = mapped_column(ForeignKey("images.id", ondelete="CASCADE"), index=True)
    content_hash: Mapped[str] = mapped_column(String(64))
    probabilities: Mapped[list[float]] = mapped_column(JSON)  # in the model's class order
    predicted_index: Mapped[int] = mapped_column(Integer)
    confidence: Mapped[float] = mapped_column(Float)
    margin: Mapped[float] = mapped_column(Float)  # top-1 minus top-2 probability: small means unsure
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class Sort(Base):
    """One "sort a folder" run: the plan is journalled before any file is touched."""

    __tablename__ = "sorts"

    id: Mapped[int] = mapped_column(primary_key=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    destination: Mapped[str] = mapped_column(String)
    mode: Mapped[str] = mapped_column(String(8))  # copy | move
    threshold: Mapped[float] = mapped_column(Float)
    model_id: Mapped[int | None] = mapped_column(ForeignKey("models.id", ondelete="SET NULL"))
    status: Mapped[str] = mapped_column(String(16), default="planned")  # planned|running|done|undone|...
    settings: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)

    operations: Mapped[list[SortOperation]] = relationship(back_populates="sort", cascade="all, delete-orphan")


class SortOperation(Base):
    """One file copy or move of a sort, with its state, so a crash can be resumed or undone."""

    __tablename__ = "sort_operations"

    id: Mapped[int] = mapped_column(primary_key=True)
    sort_id: Mapped[int] = mapped_column(ForeignKey("sorts.id", ondelete="CASCADE"), index=True)
    image_id: Mapped[int | None] = mapped_column(ForeignKey("images.id", ondelete="SET NULL"), index=True)
    source: Mapped[str] = mapped_column(FilePath)  # absolute paths
    destination: Mapped[str] = mapped_column(FilePath)
    class_name: Mapped[str] = mapped_column(String)
    content_hash: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(Integer)
    state: Mapped[str] = mapped_column(String(12), default="planned")  # planned|done|failed|undone
    error: Mapped[str | None] = mapped_column(String)
    # A companion (sidecar, RAW/JPEG twin) travels with its photo: the photo's operation (None: a photo).
    companion_of: Mapped[int | None] = mapped_column(Integer)

    sort: Mapped[Sort] = relationship(back_populates="operations")


class ImageKeyword(Base):
    """A keyword a photo carries in its XMP or IPTC or in a sidecar, read on import; levels joined by "|"."""

    __tablename__ = "image_keywords"

    image_id: Mapped[int] = mapped_column(ForeignKey("images.id", ondelete="CASCADE"), primary_key=True)
    keyword: Mapped[str] = mapped_column(String, primary_key=True)
    source: Mapped[str] = mapped_column(String(16))  # "photo" (embedded) | "sidecar"


class TagRun(Base):
    """Writing each photo's class as a keyword into its XMP sidecar (``pigeonhole tag``), journalled like a sort."""

    __tablename__ = "tag_runs"

    id: Mapped[int] = mapped_column(primary_key=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    hierarchy: Mapped[str] = mapped_column(String)
    precision: Mapped[float | None] = mapped_column(Float)
    model_id: Mapped[int | None] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(12))  # planned|running|partial|done|undoing|undone


class TagOperation(Base):
    """One sidecar written by a tag run: its bytes before (None and ``existed`` false: there was none), so undo
    restores it byte for byte, and the digest of what was written, so a later edit by another app is kept."""

    __tablename__ = "tag_operations"

    id: Mapped[int] = mapped_column(primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("tag_runs.id", ondelete="CASCADE"), index=True)
    image_id: Mapped[int | None] = mapped_column(ForeignKey("images.id", ondelete="SET NULL"))
    sidecar: Mapped[str] = mapped_column(FilePath)
    class_name: Mapped[str] = mapped_column(String)
    existed: Mapped[bool] = mapped_column(Boolean, default=False)
    before: Mapped[bytes | None] = mapped_column(LargeBinary)
    after_hash: Mapped[str | None] = mapped_column(String(64))
    state: Mapped[str] = mapped_column(String(12), default="planned")  # planned|started|done|failed|undone
    error: Mapped[str | None] = mapped_column(String)


class DismissedFinding(Base):
    """A health-scan finding the user marked "not a problem" for one photo's content, kept for good:
    keyed by content hash so a moved or re-imported copy of the same picture stays dismissed."""

    __tablename__ = "dismissed_findings"

    kind: Mapped[str] = mapped_column(String(32), primary_key=True)  # desktop.core.health finding kind
    content_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    dismissed_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class PhotoCheck(Base):
    """The last Check Photos scan, kept so its findings come back when the project opens: what it found (before
    "not a problem" is applied, so a later dismissal or its undo shows) and which photos it saw, to tell when
    photos were added, removed or changed since. One row (``id`` 1), replaced by every scan."""

    __tablename__ = "photo_checks"

    id: Mapped[int] = mapped_column(primary_key=True)
    checked_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    photo_count: Mapped[int] = mapped_column(Integer)  # photos the scan saw (readable, not missing)
    fingerprint: Mapped[str] = mapped_column(String(16))  # of their ids and content hashes (core.health_store)
    findings: Mapped[list] = mapped_column(JSON)  # one object per finding: kind, summary, photos, keeper, keys
    notes: Mapped[list] = mapped_column(JSON)  # the scan's notes (checks skipped and why)
