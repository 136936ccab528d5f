"""Benchmark suite files: named labelled sets, an optional training set, robustness settings.

A suite is TOML, validated once with pydantic; relative paths resolve against the
TOML file's folder. Minimal example::

    name = "my-suite"
    caveats = ["labels come from the source, not from per-image ratings"]

    [split]                       # used by every source that names a `part`
    test_fraction = 0.5
    seed = 0

    [train]                       # fits the hand-crafted baselines
    labels = "data/labels.csv"    # CSV with path,label (paths relative to the CSV)
    part = "train"

    [sets.Balanced]
    labels = "data/labels.csv"
    part = "test"

    [sets.Negatives]
    folders = {"0" = "snapshots/"} # a folder per class

    [sets.Mixed]                  # several sources in one set
    sources = [{labels = "data/labels.csv", part = "test"}, {folders = {"0" = "more/"}}]

    [robustness]                  # the same set again under test-time transformations
    set = "Balanced"
    transforms = [{kind = "blur", sigma = 2.0}, {kind = "center_crop"}]  # default: robustness.default_transforms()
    max_images = 200              # optional: the first N images of the set only

Errors name the file and the key (``suite.toml: sets.Negatives.folders: ...``).
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from aesthetic.reports.sources import (LabeledImage, Part, SourceError, deterministic_split,
                                       labels_csv_text, read_class_folders, read_labels_csv)
from aesthetic.degradations import Transform, default_transforms

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib


class SuiteError(ValueError):
    """A suite file that cannot be used; the message names the file and the key."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SourceSpec(_Strict):
    """One source of labelled images: a labels CSV or a folder per class, optionally one split part."""

    labels: Optional[str] = None
    folders: Optional[dict[str, str]] = None
    part: Optional[Part] = None

    @model_validator(mode="after")
    def _one_kind(self):
        if (self.labels is None) == (self.folders is None):
            raise ValueError("give exactly one of `labels` (a CSV) or `folders` ({\"1\" = dir, \"0\" = dir})")
        return self


class SetSpec(_Strict):
    """A named set: one inline source (``labels``/``folders`` + ``part``) or a list of ``sources``."""

    labels: Optional[str] = None
    folders: Optional[dict[str, str]] = None
    part: Optional[Part] = None
    sources: Optional[list[SourceSpec]] = None
    description: str = ""

    @model_validator(mode="after")
    def _one_kind(self):
        inline = self.labels is not None or self.folders is not None
        if self.sources is not None:
            if inline or self.part is not None:
                raise ValueError("give either `sources = [...]` or one inline source, not both")
            if not self.sources:
                raise ValueError("`sources` is empty")
        elif (self.labels is None) == (self.folders is None):
            raise ValueError("give exactly one of `labels`, `folders` or `sources`")
        return self

    def source_list(self) -> list[SourceSpec]:
        if self.sources is not None:
            return list(self.sources)
        return [SourceSpec(labels=self.labels, folders=self.folders, part=self.part)]


class SplitSpec(_Strict):
    """The deterministic stratified split (see sources.deterministic_split)."""

    test_fraction: float = Field(0.5, gt=0, lt=1)
    seed: int = 0


class RobustnessSpec(_Strict):
    set: str
    transforms: list[Transform] = Field(default_factory=default_transforms)
    max_images: Optional[int] = Field(None, gt=0)


class SuiteSpec(_Strict):
    name: str
    description: str = ""
    caveats: list[str] = Field(default_factory=list)
    split: SplitSpec = SplitSpec()
    train: Optional[SetSpec] = None
    sets: dict[str, SetSpec] = Field(min_length=1)
    robustness: Optional[RobustnessSpec] = None

    @model_validator(mode="after")
    def _check_names(self):
        if "train" in self.sets:
            raise ValueError("a set may not be called 'train' (that name is the [train] section's)")
        if self.robustness is not None and self.robustness.set not in self.sets:
            raise ValueError(f"robustness.set {self.robustness.set!r} is not one of the sets "
                             f"({', '.join(self.sets)})")
        return self


@dataclass
class ResolvedSet:
    """A set's images and a one-line account of where they came from."""

    name: str
    items: list[LabeledImage]
    provenance: list[str] = field(default_factory=list)

    @property
    def n_positive(self) -> int:
        return sum(1 for i in self.items if i.label == 1)

    @property
    def n_negative(self) -> int:
        return sum(1 for i in self.items if i.label == 0)


@dataclass
class Suite:
    path: Path
    spec: SuiteSpec
    sets: dict[str, ResolvedSet]
    train: Optional[ResolvedSet]


def _format_validation(path: Path, err: ValidationError) -> str:
    lines = []
    for e in err.errors():
        loc = ""
        for part in e["loc"]:
            loc += f"[{part}]" if isinstance(part, int) else (f".{part}" if loc else str(part))
        lines.append(f"{path}: {loc or '(top level)'}: {e['msg']}")
    return "\n".join(lines)


def _resolve_source(spec: SourceSpec, base: Path, split: SplitSpec, key: str,
                    suite_path: Path) -> tuple[list[LabeledImage], str]:
    try:
        if spec.labels is not None:
            items = read_labels_csv(base / spec.labels, require_labels=True)
            what = f"labels {spec.labels}"
        else:
            assert spec.folders is not None
            items = read_class_folders({k: base / v for k, v in spec.folders.items()})
            what = "folders " + ", ".join(f"{k}={v}" for k, v in sorted(spec.folders.items()))
        if spec.part is not None:
            items = deterministic_split(items, spec.part, split.test_fraction, split.seed)
            what += (f" [{spec.part} part of a stratified split, test_fraction "
                     f"{split.test_fraction:g}, seed {split.seed}]")
    except SourceError as exc:
        raise SuiteError(f"{suite_path}: {key}: {exc}") from None
    if not items:
        raise SuiteError(f"{suite_path}: {key}: the source resolved to no images")
    return items, what


def _resolve_set(name: str, spec: SetSpec, base: Path, split: SplitSpec, key: str,
                 suite_path: Path) -> ResolvedSet:
    items: list[LabeledImage] = []
    provenance: list[str] = []
    seen: set[Path] = set()
    for i, source in enumerate(spec.source_list()):
        source_key = f"{key}.sources[{i}]" if spec.sources is not None else key
        got, what = _resolve_source(source, base, split, source_key, suite_path)
        new = [item for item in got if item.path not in seen]
        seen.update(item.path for item in new)
        items.extend(new)
        provenance.append(f"{what}: {len(new)} images")
    return ResolvedSet(name=name, items=items, provenance=provenance)


def parse_suite(path: str | Path) -> SuiteSpec:
    """Read and validate a suite TOML file (no image files are touched)."""
    path = Path(path)
    if not path.is_file():
        raise SuiteError(f"{path}: suite file not found")
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise SuiteError(f"{path}: not valid TOML ({exc})") from None
    try:
        return SuiteSpec.model_validate(raw)
    except ValidationError as exc:
        raise SuiteError(_format_validation(path, exc)) from None


def load_suite(path: str | Path) -> Suite:
    """Parse a suite and resolve every set to its labelled images (labels required)."""
    path = Path(path)
    spec = parse_suite(path)
    base = path.resolve().parent
    sets = {name: _resolve_set(name, s, base, spec.split, f"sets.{name}", path)
            for name, s in spec.sets.items()}
    train = (_resolve_set("train", spec.train, base, spec.split, "train", path)
             if spec.train is not None else None)
    return Suite(path=path, spec=spec, sets=sets, train=train)


def split_file_name(set_name: str) -> str:
    """``<set>.csv`` with the name made file-safe; the training set is ``train.csv``."""
    import re

    return (re.sub(r"[^A-Za-z0-9._-]+", "_", set_name).strip("_") or "unnamed") + ".csv"


def write_split_csvs(suite: Suite, folder: Path, relative_to: Path | None = None) -> dict[str, Path]:
    """One labels CSV per set (and ``train.csv``) in ``folder``, paths relative to ``relative_to``
    (default ``folder``: pass the final location when ``folder`` is a temporary one).

    These are the exact members of each set, so a model can be trained on ``train.csv``
    (``aesthetic extract train.csv ...``) without ever seeing a benchmark image.
    """
    from aesthetic.feature_store import atomic_write_text

    folder = Path(folder)
    relative_to = Path(relative_to or folder).resolve()
    written = {}
    groups = dict(suite.sets)
    if suite.train is not None:
        groups = {**groups, "train": suite.train}
    for name, rset in groups.items():
        path = folder / ("train.csv" if rset is suite.train else split_file_name(name))
        atomic_write_text(path, labels_csv_text(rset.items, relative_to))
        written[name] = path
    return written
