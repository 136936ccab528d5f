"""Sensitivity rows of a benchmark report: does a scorer notice when a good photo is spoiled?

Three checks, run for every scorer alike (the project's model, the NIMA peer, the baselines):

- **degradations** of the *aesthetic* photos of each set, each at 2-3 strengths: the fraction
  whose score fell, the fraction now called not aesthetic, and the mean score;
- **near-empty frames** (flat grey/black/white, flat colours, smooth gradients, blurred blobs),
  none of which is a photograph: the fraction called not aesthetic;
- **label-preserving** changes (horizontal flip, 90% centre crop, a small rescale) of every photo
  of the set: the fraction whose call changed (it should be near 0).

Robustness (:mod:`.benchmark`) asks whether accuracy survives handling; sensitivity asks whether
the score *moves the right way*, which a model that learned its data's sources fails.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Sequence

import numpy as np

from aesthetic import degradations as D
from aesthetic.metrics import predict
from aesthetic.bundles.scoring import Scorer, score_items
from aesthetic.data import LabeledImage


@dataclass(frozen=True)
class Degradation:
    """One spoiling change at one strength; ``label`` names it in the report."""

    kind: str
    strength: float
    label: str
    apply: Callable[[np.ndarray], np.ndarray]


def default_degradations() -> list[Degradation]:
    """Each degradation at 2-3 strengths; the middle one is issue #13's acceptance level."""
    out = []
    for s in (1.5, 3.0, 6.0):
        out.append(Degradation("blur", s, f"blur sigma {s:g}px", lambda im, s=s: D.gaussian_blur(im, s)))
    for f in (2.0, 4.0, 8.0):
        out.append(Degradation("down_up", f, f"{f:g}x down-up", lambda im, f=f: D.down_up(im, f)))
    for q in (30, 10, 5):
        out.append(Degradation("jpeg", q, f"JPEG q{q}", lambda im, q=q: D.jpeg_roundtrip(im, q)))
    for ev in (-1.0, -2.0, -3.0):
        out.append(Degradation("underexpose", -ev, f"{ev:+g} EV", lambda im, ev=ev: D.exposure(im, ev)))
    for ev in (1.0, 2.0):
        out.append(Degradation("overexpose", ev, f"{ev:+g} EV", lambda im, ev=ev: D.exposure(im, ev)))
    for s in (10.0, 25.0, 40.0):
        out.append(Degradation("noise", s, f"noise sigma {s:g}", lambda im, s=s: D.gaussian_noise(im, s, 0)))
    for a in (5.0, 15.0):
        out.append(Degradation("tilt", a, f"tilt {a:g} deg", lambda im, a=a: D.tilt(im, a)))
    return out


def default_preserving() -> list[Degradation]:
    """Changes a person would not call a different photo: the call should stay."""
    return [Degradation("hflip", 0, "horizontal flip", D.horizontal_flip),
            Degradation("crop", 0.9, "90% centre crop", lambda im: D.center_crop_fraction(im, 0.9)),
            Degradation("rescale", 0.8, "rescale x0.8", lambda im: D.rescale(im, 0.8))]


def empty_frames(count: int = 27, seed: int = 2024) -> list[tuple[str, np.ndarray]]:
    """Grey, black and white frames plus ``count`` seeded flat/gradient/blurred frames, named."""
    frames = [("flat grey", D.flat_frame(375, 500, (128, 128, 128))),
              ("flat black", D.flat_frame(375, 500, (0, 0, 0))),
              ("flat white", D.flat_frame(375, 500, (255, 255, 255)))]
    kinds = ("flat colour", "gradient", "blurred blobs")
    frames += [(kinds[k % 3], f) for k, f in enumerate(D.synthetic_frames(count, seed=seed))]
    return frames


@dataclass
class SensitivityRow:
    group: str          # which photos (a set name, or several sets sharing their aesthetic photos)
    check: str          # "degradation" | "preserving" | "empty"
    kind: str
    strength: float
    label: str
    scorer: str
    n: int
    score_fell: float | None       # fraction whose score is lower than before (degradations)
    called_not: float | None       # fraction called not aesthetic after the change
    call_changed: float | None     # fraction whose call changed (preserving)
    mean_score: float              # mean score after the change
    mean_before: float | None

    def to_dict(self) -> dict[str, Any]:
        return self.__dict__.copy()


def _calls(s: Scorer, scores: np.ndarray) -> np.ndarray:
    return predict(scores, s.threshold, s.inclusive).astype(bool)


def run_sensitivity(scorers: Sequence[Scorer], groups: dict[str, list[LabeledImage]],
                    preserving_items: dict[str, list[LabeledImage]],
                    degradations: Sequence[Degradation] | None = None,
                    preserving: Sequence[Degradation] | None = None,
                    frames: Sequence[tuple[str, np.ndarray]] | None = None,
                    batch_size: int = 16, progress: bool = True) -> list[SensitivityRow]:
    """Every sensitivity row for ``scorers``.

    ``groups``: name -> aesthetic photos to degrade; ``preserving_items``: name -> photos (any
    label) for the label-preserving changes. Unreadable images drop out.
    """
    degradations = default_degradations() if degradations is None else list(degradations)
    preserving = default_preserving() if preserving is None else list(preserving)
    frames = empty_frames() if frames is None else list(frames)
    rows: list[SensitivityRow] = []

    def before_after(items, changes, check, group):
        base = score_items(scorers, items, batch_size, description=f"sensitivity {group}", progress=progress)
        keep = [i for i, ok in zip(items, base.ok) if ok]
        if not keep:
            return
        before = {s.name: base.scores[s.name][base.ok] for s in scorers}
        for change in changes:
            table = score_items(scorers, keep, batch_size, transform=change.apply,
                                description=f"sensitivity {change.label}", progress=progress)
            for s in scorers:
                after, b = table.scores[s.name], before[s.name]
                called_after, called_before = _calls(s, after), _calls(s, b)
                rows.append(SensitivityRow(
                    group=group, check=check, kind=change.kind, strength=float(change.strength),
                    label=change.label, scorer=s.name, n=len(after),
                    score_fell=float(np.mean(after < b)) if check == "degradation" else None,
                    called_not=float(np.mean(~called_after)),
                    call_changed=float(np.mean(called_after != called_before)),
                    mean_score=float(np.mean(after)), mean_before=float(np.mean(b))))

    for group, items in groups.items():
        before_after(items, degradations, "degradation", group)
    for group, items in preserving_items.items():
        before_after(items, preserving, "preserving", group)
    if frames:
        images = [f for _, f in frames]
        for s in scorers:
            scores = np.asarray(s.score_images(images), dtype=np.float64)
            called = _calls(s, scores)
            for kind in dict.fromkeys(name for name, _ in frames):
                m = np.array([name == kind for name, _ in frames])
                rows.append(SensitivityRow(group="synthetic", check="empty", kind=kind, strength=0.0, label=kind,
                                           scorer=s.name, n=int(m.sum()), score_fell=None,
                                           called_not=float(np.mean(~called[m])), call_changed=None,
                                           mean_score=float(np.mean(scores[m])), mean_before=None))
    return rows


def aesthetic_groups(sets: dict[str, Sequence[LabeledImage]]) -> dict[str, list[LabeledImage]]:
    """The aesthetic photos of each set, sets holding the very same ones merged under one name
    (``"A, B"``) so each photo is degraded once; sets without aesthetic photos are left out."""
    by_members: dict[tuple[str, ...], tuple[list[str], list[LabeledImage]]] = {}
    for name, items in sets.items():
        positives = [i for i in items if i.label == 1]
        if not positives:
            continue
        key = tuple(sorted(str(i.path) for i in positives))
        by_members.setdefault(key, ([], positives))[0].append(name)
    return {", ".join(names): items for names, items in by_members.values()}
