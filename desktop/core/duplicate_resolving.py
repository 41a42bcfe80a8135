"""Resolving duplicates: in each group one photo is kept (chosen by a rule the user picks) and the others are moved
aside (``sorting.aside``) as one journalled sort — one preview, one undo (``undo_sort``), resumable after a crash.

Groups come from ``exact_groups`` (same content hash, no features needed) or ``near_groups`` (the backbone's
features above a similarity; imports torch), or from the caller (Check Photos' Keep one). A group whose photos
carry different labels is only resolved when the caller says so (``mixed_labels``): the CLI's
``--mixed-labels``, the app's question. The extras' labels are kept with their rows, so the undo brings them back.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import select

from desktop.core.project import Project
from desktop.core.sorting import SortPlan, SortResult, sort_plan
from desktop.core.sorting.aside import default_destination, plan_aside
from desktop.db.models import Image, ImageClass, Label
from desktop.db.queries import IMAGE_PATH, in_chunks, with_folder
from desktop.errors import PigeonholeError
from desktop.progress import CancelToken
from desktop.wording import plural

KEEPER_RULES = ("labelled", "largest", "sharpest", "oldest")  # and "folder:PATH": the copy in that folder
DEFAULT_KEEPER = "labelled"  # a labelled copy, then the largest


class ResolveError(PigeonholeError):
    """Duplicates cannot be resolved as asked; the message is for the user."""


@dataclass(frozen=True)
class Copy:
    image_id: int
    path: Path
    width: int
    height: int
    size: int
    mtime: float
    label: str | None
    content_hash: str


@dataclass(frozen=True)
class ResolvedGroup:
    keeper: Copy
    extras: list[Copy]
    reason: str  # why the keeper: "labelled", "largest", "sharpest", "oldest", "in the preferred folder", "chosen"

    @property
    def labels(self) -> list[str]:
        return sorted({c.label for c in (self.keeper, *self.extras) if c.label is not None})

    @property
    def mixed_labels(self) -> bool:
        return len(self.labels) > 1


@dataclass
class Resolution:
    """What resolving would do: each group's keeper and extras, and the move of the extras (a ``SortPlan``)."""

    groups: list[ResolvedGroup]
    plan: SortPlan
    keeper_rule: str
    notes: list[str] = field(default_factory=list)

    @property
    def mixed(self) -> list[ResolvedGroup]:
        return [group for group in self.groups if group.mixed_labels]

    @property
    def sentence(self) -> str:
        """The preview in one sentence: how many files move where."""
        photos = len(self.plan.photos)
        if not photos:
            return "There is nothing to move: no group has an extra copy that can be moved."
        text = (f"{photos:,} extra cop{'ies' if photos != 1 else 'y'} from {plural(len(self.groups), 'group')} will be "
                f"moved to {self.plan.destination}, keeping their folders")
        if self.plan.companions:
            text += f" (with {plural(self.plan.companions, 'sidecar or twin file')})"
        text += "; one copy of each stays"
        if self.plan.skipped:
            text += f"; {plural(len(self.plan.skipped), 'file')} cannot be moved and stay"
        return text + "."

    def as_json(self) -> dict:
        return {
            "keeper_rule": self.keeper_rule, "destination": str(self.plan.destination),
            "groups": [{"keeper": str(g.keeper.path), "reason": g.reason, "labels": g.labels,
                        "mixed_labels": g.mixed_labels, "extras": [str(c.path) for c in g.extras]}
                       for g in self.groups],
            "moves": [{"source": str(op.source), "destination": str(op.destination)} for op in self.plan.operations],
            "skipped": [{"path": str(path), "reason": why} for path, why in self.plan.skipped],
            "message": self.sentence,
        }


def check_keeper_rule(rule: str) -> str:
    if rule in KEEPER_RULES or (rule.startswith("folder:") and rule[len("folder:"):].strip()):
        return rule
    raise ResolveError(f"Unknown keeper rule “{rule}”: use one of {', '.join(KEEPER_RULES)}, or folder:PATH "
                       "(keep the copy in that folder).")


def exact_groups(project: Project) -> list[list[int]]:
    """Photos with the same content (identical files), as groups of image ids, oldest id first."""
    with project.sessions() as session:
        rows = session.execute(select(Image.id, Image.content_hash).where(
            Image.error.is_(None), Image.missing.is_(False)).order_by(Image.id)).all()
    by_hash: dict[str, list[int]] = defaultdict(list)
    for image_id, content_hash in rows:
        by_hash[content_hash].append(image_id)
    return [ids for ids in by_hash.values() if len(ids) > 1]


def near_groups(project: Project, similarity: float, on_progress: Callable | None = None,
                cancel: CancelToken | None = None) -> list[list[int]]:
    """Exact copies and photos nearly the same picture (features at least ``similarity`` alike). Imports torch."""
    from desktop.core.duplicates import find_duplicates

    return [list(group.image_ids) for group in find_duplicates(project, similarity, on_progress=on_progress,
                                                               cancel=cancel)]


def plan_resolution(project: Project, groups: Sequence[Sequence[int]], keeper_rule: str = DEFAULT_KEEPER,
                    destination: Path | str | None = None, keepers: dict[int, int] | None = None) -> Resolution:
    """Choose each group's keeper (``keepers``: group index → image id chosen by hand) and plan moving the others
    to ``destination`` (default: ``_duplicates`` beside the photos). Reads only."""
    check_keeper_rule(keeper_rule)
    copies = _copies(project, {image_id for group in groups for image_id in group})
    resolved: list[ResolvedGroup] = []
    taken: set[int] = set()
    for index, group in enumerate(groups):
        members = [copies[i] for i in dict.fromkeys(group) if i in copies and i not in taken]
        if len(members) < 2:
            continue
        taken.update(c.image_id for c in members)
        chosen = (keepers or {}).get(index)
        if chosen is not None and chosen in {c.image_id for c in members}:
            keeper, reason = next(c for c in members if c.image_id == chosen), "chosen"
        else:
            keeper, reason = choose_keeper(members, keeper_rule)
        resolved.append(ResolvedGroup(keeper, [c for c in members if c is not keeper], reason))
    extras = [c.image_id for group in resolved for c in group.extras]
    if destination is None:
        if not extras:
            raise ResolveError("There are no duplicates to resolve.")
        destination = default_destination(project, extras)
    return Resolution(resolved, plan_aside(project, extras, destination, keeper_rule), keeper_rule)


def resolve(project: Project, resolution: Resolution, *, mixed_labels: bool = False,
            on_progress: Callable | None = None, cancel: CancelToken | None = None,
            on_started: Callable[[int], None] | None = None) -> SortResult:
    """Move the extras aside, journalled as a sort (``resume-sort`` and ``undo-sort`` work on it). A group whose
    photos carry different labels is refused unless ``mixed_labels``."""
    mixed = resolution.mixed
    if mixed and not mixed_labels:
        names = "; ".join(" / ".join(group.labels) for group in mixed[:3])
        raise ResolveError(f"{plural(len(mixed), 'group')} of duplicates {'mixes' if len(mixed) == 1 else 'mix'} "
                           f"labels ({names}{'; …' if len(mixed) > 3 else ''}): check them, or resolve them anyway "
                           "(--mixed-labels).")
    if not resolution.plan.operations:
        raise ResolveError(resolution.sentence)
    return sort_plan(project, resolution.plan, on_progress, cancel, on_started)


def choose_keeper(members: Sequence[Copy], rule: str) -> tuple[Copy, str]:
    """The copy to keep by ``rule``, and the reason in a word. Ties fall to the largest, then the oldest."""
    def largest(c: Copy) -> tuple:
        return (-(c.width * c.height), -c.size, c.mtime, c.image_id)

    if rule == "oldest":
        return min(members, key=lambda c: (c.mtime, c.image_id)), "oldest"
    if rule == "sharpest":
        sharpness = _sharpness(members)
        best = max(members, key=lambda c: (sharpness.get(c.image_id, 0.0), -c.mtime, -c.image_id))
        return best, "sharpest"
    if rule.startswith("folder:"):
        folder = Path(rule[len("folder:"):]).expanduser().resolve()
        inside = [c for c in members if c.path.is_relative_to(folder)]
        if inside:
            return min(inside, key=largest), "in the preferred folder"
    if rule == "labelled" or rule.startswith("folder:"):
        labelled = [c for c in members if c.label is not None]
        if labelled:
            return min(labelled, key=largest), "labelled"
    return min(members, key=largest), "largest"


def _sharpness(members: Sequence[Copy]) -> dict[int, float]:
    from desktop.core.health_rules import STATS_SIDE, photo_stats
    from desktop.io.images import load_rgb

    found: dict[int, float] = {}
    for copy in members:
        try:
            found[copy.image_id] = photo_stats(load_rgb(copy.path, min_long_side=STATS_SIDE)).sharpness
        except Exception:  # unreadable since it was imported: it is not the sharpest
            found[copy.image_id] = 0.0
    return found


def _copies(project: Project, image_ids: set[int]) -> dict[int, Copy]:
    found: dict[int, Copy] = {}
    with project.sessions() as session:
        for chunk in in_chunks(sorted(image_ids)):
            for row in session.execute(
                    with_folder(select(Image.id, IMAGE_PATH, Image.width, Image.height, Image.size, Image.mtime,
                                       ImageClass.name, Image.content_hash))
                    .outerjoin(Label, Label.image_id == Image.id)
                    .outerjoin(ImageClass, ImageClass.id == Label.class_id)
                    .where(Image.id.in_(chunk), Image.error.is_(None), Image.missing.is_(False))):
                found[row[0]] = Copy(row[0], Path(row[1]), row[2] or 0, row[3] or 0, row[4], row[5], row[6], row[7])
    return found
