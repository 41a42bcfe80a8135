"""The precision rule of a sort: where a model's held-out predictions come from, and the words for what they say.

A model trained by this version keeps its held-out predictions in its models row (``metrics["held_out"]``), so a
sort reads them without torch; older models kept them only in the model file. The statistics are
``desktop.ml.precision``'s; this module says in sentences how sure the expected mistakes are and what would let
more photos be sorted.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from desktop.errors import PigeonholeError
from desktop.ml.precision import ENOUGH_PER_CLASS, ClassRule, HeldOut, HeldOutError
from desktop.wording import plural

# Advice is given when more than this share of the photos predicted a class stayed unsure, for at most this many
# classes (the ones holding back the most photos).
ADVICE_SHARE = 0.25
ADVICE_CLASSES = 3


def held_out_of(metrics: Mapping[str, Any] | None, model_file: Path | None, class_count: int) -> HeldOut | None:
    """The model's held-out predictions: its row's, else (older models) its file's; None when neither holds a
    valid record for ``class_count`` classes."""
    metrics = metrics or {}
    stored = metrics.get("held_out")
    if stored is not None:
        try:
            held_out = HeldOut.from_dict(stored, class_count, str(metrics.get("evaluation") or "out-of-fold"))
        except HeldOutError:
            held_out = None
        if held_out is not None and held_out.class_count == class_count and len(held_out):
            return held_out
    return _from_model_file(model_file, class_count) if model_file is not None else None


_file_cache: dict[tuple[str, int, int, int], HeldOut | None] = {}


def _from_model_file(model_file: Path, class_count: int) -> HeldOut | None:
    try:
        info = os.stat(model_file)
    except OSError:
        return None
    key = (str(model_file), info.st_mtime_ns, info.st_size, class_count)
    if key not in _file_cache:  # the preview plans again on every option change: read the file once
        if len(_file_cache) > 32:
            _file_cache.clear()
        _file_cache[key] = _read_model_file(model_file, class_count)
    return _file_cache[key]


def _read_model_file(model_file: Path, class_count: int) -> HeldOut | None:
    from desktop.ml.checkpoint import load_checkpoint

    try:
        checkpoint = load_checkpoint(model_file)
    except PigeonholeError:
        return None
    held_out = checkpoint.get("out_of_fold")
    if not isinstance(held_out, dict):
        return None
    probabilities, labels = held_out.get("probabilities"), held_out.get("labels")
    if not (isinstance(probabilities, np.ndarray) and isinstance(labels, np.ndarray)
            and probabilities.ndim == 2 and probabilities.shape[1] == class_count and len(labels)):
        return None
    try:
        return HeldOut.from_probabilities(probabilities.astype(np.float64), labels.astype(np.int64),
                                          str(held_out.get("evaluation", "out-of-fold")))
    except HeldOutError:
        return None  # not what a trainer writes: no promise can rest on it


def mistakes_sentence(expected: float, likely: tuple[int, int], by_prediction: int) -> str:
    """'about 3.2 of the 120 sorted by prediction expected in a wrong folder (likely 1 to 6)': a plan's
    ``expected_mistakes`` and ``mistakes_range``."""
    low, high = likely
    if high == 0 and expected < 0.05:
        return f"none of the {by_prediction:,} sorted by prediction expected in a wrong folder"
    about = f"{expected:.1f}" if expected < 10 else f"{expected:,.0f}"
    spread = f" (likely {low:,} to {high:,})" if high > low else ""
    return f"about {about} of the {by_prediction:,} sorted by prediction expected in a wrong folder{spread}"


def advice(rules: Sequence[ClassRule], class_names: Sequence[str], precision: float,
           blocked: Mapping[int, int], predicted: Mapping[int, int]) -> dict[str, str]:
    """What would let more photos be sorted, for the classes that kept many of their photos unsure: ``blocked``
    and ``predicted`` count, per class index, the photos predicted that class that stayed unsure and in all.
    One sentence per class name, the class holding back the most photos first."""
    worst = sorted((c for c, count in blocked.items() if count and count > ADVICE_SHARE * predicted.get(c, count)),
                   key=lambda c: -blocked[c])[:ADVICE_CLASSES]
    return {class_names[c]: _class_advice(rules[c], class_names, c, precision, blocked[c])
            for c in worst if 0 <= c < len(rules)}


def _class_advice(rule: ClassRule, class_names: Sequence[str], c: int, precision: float, blocked: int) -> str:
    """'38 photos predicted “seasonal” stayed unsure: 9 of the 14 labelled photos predicted “seasonal” in the
    held-out check were wrong (mostly “town”), so only those 90% sure or more are sorted. Check the labels of …'"""
    name = class_names[c]
    partner = class_names[rule.confused_with] if rule.confused_with is not None else None
    wrong = rule.held_out_predicted - rule.held_out_right
    if rule.held_out_predicted == 0:
        why = f"no labelled photo was predicted “{name}” in the held-out check"
    elif wrong:
        why = (f"{wrong} of the {plural(rule.held_out_predicted, 'labelled photo')} predicted “{name}” in the "
               f"held-out check were wrong" + (f" (mostly “{partner}”)" if partner else ""))
    else:
        why = f"only {plural(rule.held_out_predicted, 'labelled photo')} back its predictions"
    so = (f"no confidence reaches {precision:.0%}" if rule.threshold is None
          else f"only those {rule.threshold:.0%} sure or more reach {precision:.0%}")
    more = max(10, rule.labelled)
    if rule.labelled < ENOUGH_PER_CLASS or not partner:
        help_ = f"Label about {more} more photos of “{name}”" + (f" and of “{partner}”" if partner else "")
    else:
        help_ = f"Check the labels of “{name}” and “{partner}” (Review Labels), then label about {more} more of each"
    return f"{plural(blocked, 'photo')} predicted “{name}” stayed unsure: {why}, so {so}. {help_}."
