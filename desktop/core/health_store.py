"""The last Check Photos scan, kept in the project (table ``photo_checks``) so its findings come back when the
project opens, and the test of whether the photos changed since.

Which photos a scan saw is kept as their count and a fingerprint: the sum, modulo 2**64, of a 64-bit hash of
each photo's (id, content hash). A sum rather than one digest over the list, so "Keep one" and its undo can take
the photos they remove out of it (and put them back) without reading every photo again: the user's own removal
does not make the check look out of date. Adding, removing, re-importing a changed file or losing one on disk
(missing photos are not checked) all change it. Labels are not part of it: labelling does not make a check stale.

Findings are stored as plain dicts (``desktop.core.health`` turns them into and from its ``Finding``s) without
paths: a photo's path is read again on loading, so a moved folder shows where the photo is now.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from desktop.core.project import Project
from desktop.db.engine import transaction
from desktop.db.models import Image, PhotoCheck, utcnow

ROW_ID = 1  # one row: the last scan
_MODULUS = 2**64


def photo_term(image_id: int, content_hash: str) -> int:
    return int.from_bytes(hashlib.blake2b(f"{image_id}:{content_hash}".encode(), digest_size=8).digest(), "big")


def fingerprint(photos: Iterable[tuple[int, str]]) -> tuple[int, str]:
    """(count, fingerprint) of (image id, content hash) pairs; order does not matter."""
    count, total = 0, 0
    for image_id, content_hash in photos:
        count += 1
        total = (total + photo_term(image_id, content_hash)) % _MODULUS
    return count, f"{total:016x}"


def checked_photos(session) -> list[tuple[int, str]]:
    """The photos a scan checks: readable and present on disk."""
    return [tuple(row) for row in session.execute(
        select(Image.id, Image.content_hash).where(Image.error.is_(None), Image.missing.is_(False)))]


@dataclass(frozen=True)
class StoredCheck:
    checked_at: datetime
    findings: list[dict]
    notes: list[str]
    photos_then: int
    photos_now: int
    changed: bool  # photos were added, removed or changed since the scan

    @property
    def stale_reason(self) -> str:
        """Why the findings may be out of date, one sentence; "" when they are not."""
        if not self.changed:
            return ""
        difference = self.photos_now - self.photos_then
        if difference > 0:
            what = f"{difference:,} photo{'s' * (difference != 1)} added"
        elif difference < 0:
            what = f"{-difference:,} photo{'s' * (difference != -1)} removed"
        else:
            what = "photos changed"
        return f"Photos changed since this check ({what}) — run it again."


def save(project: Project, photos: Iterable[tuple[int, str]], findings: list[dict], notes: list[str]) -> None:
    """Keep one scan's findings and which photos it saw, replacing the previous scan."""
    count, digest = fingerprint(photos)
    values = {"id": ROW_ID, "checked_at": utcnow(), "photo_count": count, "fingerprint": digest,
              "findings": findings, "notes": notes}
    with transaction(project.sessions) as session:
        session.execute(sqlite_insert(PhotoCheck).values(values)
                        .on_conflict_do_update(index_elements=[PhotoCheck.id], set_=values))


def load(project: Project) -> StoredCheck | None:
    """The last scan, and whether the photos changed since; None when the project was never checked."""
    with project.sessions() as session:
        row = session.get(PhotoCheck, ROW_ID)
        if row is None:
            return None
        count, digest = fingerprint(checked_photos(session))
        return StoredCheck(row.checked_at, list(row.findings), list(row.notes), row.photo_count, count,
                           (count, digest) != (row.photo_count, row.fingerprint))


def photos_removed(session, photos: Iterable[dict]) -> None:
    """Take photos (``Image`` rows as dicts) out of the last scan's fingerprint: "Keep one", in its transaction."""
    _adjust(session, photos, -1)


def photos_restored(session, photos: Iterable[dict]) -> None:
    """Put photos back in the last scan's fingerprint: the undo of "Keep one", in its transaction."""
    _adjust(session, photos, +1)


def _adjust(session, photos: Iterable[dict], sign: int) -> None:
    row = session.get(PhotoCheck, ROW_ID)
    if row is None:
        return
    total, count = int(row.fingerprint, 16), row.photo_count
    for photo in photos:
        if photo.get("error") is None and not photo.get("missing"):  # the photos a scan checks
            total = (total + sign * photo_term(photo["id"], photo["content_hash"])) % _MODULUS
            count += sign
    row.fingerprint, row.photo_count = f"{total:016x}", count
