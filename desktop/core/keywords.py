"""Keywords in: what photos already say about themselves (embedded XMP/IPTC, XMP sidecars), read into the project
after an import, counted, shown per photo, and turned into labels where the user says which keywords (or which
branch of a hierarchy, ``Animals|``) are classes. Keywords are stored with their levels joined by ``|``."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import delete, func, insert, select

from desktop.core.classes import ensure_class
from desktop.core.labels import LabelChange, set_label
from desktop.core.project import Project
from desktop.db.engine import transaction
from desktop.db.models import Folder, Image, ImageKeyword, Label
from desktop.db.queries import image_path, in_chunks, with_folder
from desktop.errors import Cancelled, PigeonholeError
from desktop.io.companions import FolderListings, sidecars_of
from desktop.io.xmp import Keyword, XmpError, keywords_of_file, keywords_of_sidecar

SEPARATOR = "|"
BATCH = 200
# Photos that can be labelled and trained on: a broken or missing file's keywords are kept, not offered.
_USABLE = (Image.error.is_(None), Image.missing.is_(False))


class KeywordError(PigeonholeError):
    """Keywords cannot become labels as asked; the message is for the user."""


@dataclass
class KeywordScan:
    photos: int = 0  # photos read
    with_keywords: int = 0
    problems: list[tuple[Path, str]] = field(default_factory=list)  # (file, why its keywords were not read)


def joined(keyword: Keyword) -> str:
    return SEPARATOR.join(keyword)


def read_keywords(project: Project, folder_id: int | None = None,
                  on_progress: Callable[[int, int], None] | None = None,
                  cancel: Callable[[], bool] | None = None) -> KeywordScan:
    """Read the keywords of every readable photo (of one folder) from the photo itself and from its sidecars,
    replacing what the project held for them. A file whose XMP is broken or hostile is named, never fatal."""
    query = with_folder(select(Image.id, Folder.root, Image.rel_path)).where(Image.missing.is_(False))
    if folder_id is not None:
        query = query.where(Image.folder_id == folder_id)
    with project.sessions() as session:
        rows = session.execute(query).all()
    scan = KeywordScan()
    listings = FolderListings()  # each folder listed once; a photo looks only at the names sharing its stem
    for start in range(0, len(rows), BATCH):
        if cancel is not None and cancel():
            raise Cancelled()
        found: dict[int, dict[str, str]] = {}
        for image_id, root, rel_path in rows[start:start + BATCH]:
            path = image_path(root, rel_path)
            found[image_id] = _keywords_of(path, listings, scan)
        with transaction(project.sessions) as session:
            ids = list(found)
            for chunk in in_chunks(ids):
                session.execute(delete(ImageKeyword).where(ImageKeyword.image_id.in_(chunk)))
            values = [{"image_id": image_id, "keyword": keyword, "source": source}
                      for image_id, keywords in found.items() for keyword, source in keywords.items()]
            if values:
                session.execute(insert(ImageKeyword), values)
        scan.photos += len(found)
        scan.with_keywords += sum(bool(keywords) for keywords in found.values())
        if on_progress is not None:
            on_progress(scan.photos, len(rows))
    return scan


def _keywords_of(path: Path, listings: FolderListings, scan: KeywordScan) -> dict[str, str]:
    keywords: dict[str, str] = {}
    try:
        for keyword in keywords_of_file(path):
            keywords.setdefault(joined(keyword), "photo")
    except XmpError as exc:
        scan.problems.append((path, str(exc)))
    for sidecar in sidecars_of(path, listings.near(path)):
        try:
            for keyword in keywords_of_sidecar(sidecar):
                keywords.setdefault(joined(keyword), "sidecar")
        except XmpError as exc:
            scan.problems.append((sidecar, str(exc)))
    return keywords


def keyword_counts(project: Project) -> list[tuple[str, int]]:
    """Every keyword with how many readable photos carry it, the most used first."""
    with project.sessions() as session:
        rows = session.execute(select(ImageKeyword.keyword, func.count()).join(Image, Image.id == ImageKeyword.image_id)
                               .where(*_USABLE).group_by(ImageKeyword.keyword)).all()
    return sorted(((keyword, count) for keyword, count in rows), key=lambda item: (-item[1], item[0].casefold()))


def keywords_of(project: Project, image_id: int) -> list[str]:
    with project.sessions() as session:
        return sorted(session.scalars(select(ImageKeyword.keyword).where(ImageKeyword.image_id == image_id)),
                      key=str.casefold)


@dataclass
class KeywordLabels:
    """What turning keywords into labels did."""

    change: LabelChange | None  # for undo; None when nothing was labelled
    per_class: dict[str, int]
    already_labelled: int = 0  # photos with a label of their own: kept
    ambiguous: int = 0  # photos with two of the chosen keywords, naming different classes: left unlabelled

    @property
    def message(self) -> str:
        labelled = sum(self.per_class.values())
        text = (f"{labelled} photo{'s' * (labelled != 1)} labelled from keywords into "
                f"{len(self.per_class)} class{'es' * (len(self.per_class) != 1)}")
        if self.already_labelled:
            text += f"; {self.already_labelled} already had a label and kept it"
        if self.ambiguous:
            text += f"; {self.ambiguous} carry keywords of two classes and were left unlabelled"
        return text + "."


def class_for(keywords: Sequence[str], chosen: Sequence[str] = (), branch: str | None = None) -> set[str]:
    """The classes a photo's keywords name: each chosen keyword it carries names the class of its last level
    (``Animals|Birds`` → ``Birds``); under ``branch`` (``Animals|``) the level right below the branch does."""
    classes: set[str] = set()
    wanted = {keyword.casefold() for keyword in chosen}
    prefix = [level.strip() for level in (branch or "").split(SEPARATOR) if level.strip()]
    for keyword in keywords:
        levels = keyword.split(SEPARATOR)
        if keyword.casefold() in wanted:
            classes.add(levels[-1])
        if prefix and len(levels) > len(prefix) and [level.casefold() for level in levels[:len(prefix)]] == \
                [level.casefold() for level in prefix]:
            classes.add(levels[len(prefix)])
    return classes


def label_from_keywords(project: Project, chosen: Sequence[str] = (), branch: str | None = None) -> KeywordLabels:
    """Label the unlabelled photos whose keywords name one class; a photo's own label is never replaced."""
    if not chosen and not (branch or "").strip(SEPARATOR + " "):
        raise KeywordError("Name the keywords that become classes, or a branch of keywords such as “Animals|”.")
    with project.sessions() as session:
        by_image: dict[int, list[str]] = {}
        for image_id, keyword in session.execute(select(ImageKeyword.image_id, ImageKeyword.keyword)
                                                 .join(Image, Image.id == ImageKeyword.image_id).where(*_USABLE)):
            by_image.setdefault(image_id, []).append(keyword)
        labelled = set(session.scalars(select(Label.image_id)))
    known = {keyword.casefold() for keywords in by_image.values() for keyword in keywords}
    unknown = [keyword for keyword in chosen if keyword.casefold() not in known]
    if unknown:
        raise KeywordError(f"No photo carries the keyword “{unknown[0]}”; `pigeonhole keywords PROJECT` lists them.")
    targets: dict[str, list[int]] = {}
    result = KeywordLabels(None, {})
    for image_id, keywords in by_image.items():
        classes = class_for(keywords, chosen, branch)
        if not classes:
            continue
        if image_id in labelled:
            result.already_labelled += 1
        elif len({name.casefold() for name in classes}) > 1:
            result.ambiguous += 1
        else:
            targets.setdefault(next(iter(classes)), []).append(image_id)
    if not targets and not result.already_labelled and not result.ambiguous:
        raise KeywordError(f"No photo carries a keyword below “{branch}”.")
    before: dict[int, int | None] = {}
    after: dict[int, int | None] = {}
    for name, image_ids in targets.items():
        with transaction(project.sessions) as session:
            class_id = ensure_class(session, name).id
        change = set_label(project, image_ids, class_id, source="keywords")
        before.update(change.before)
        after.update(change.after)
        result.per_class[name] = len(image_ids)
    result.change = LabelChange(before, after) if after else None
    return result
