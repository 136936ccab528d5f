"""Where the notebooks find the real photos and weights, and the labelled subsets they use.

The photos live in ``../shared/data`` beside the checkout (see its README; they are never
copied into the repository). A notebook runs with its own folder, ``notebooks/``, as the
working directory, so its parent is the checkout; the folder is then found by the project's one
rule (:mod:`aesthetic.shared`: ``AESTHETIC_SHARED`` when set, else ``shared/`` in or beside the checkout).

Subsets follow the benchmark suite's split (``benchmarks/suites/shared_data.toml``: each source
split 50/50 by ``sha256("0:<path>")``, stratified by label), so a photo a notebook trains on is
never one it evaluates on, and never one the benchmark report tests on.
"""

from __future__ import annotations

import csv
import os
from pathlib import Path
from typing import Sequence

from aesthetic.shared import CURATED_LABELS, require_shared
from aesthetic.data import LabeledImage, deterministic_split, read_labels_csv

#: The suite's split settings (benchmarks/suites/shared_data.toml, [split]).
TEST_FRACTION = 0.5
SPLIT_SEED = 0


def find_shared(start: Path | None = None) -> Path:
    """The ``shared`` folder (holding ``data/`` and ``weights/``), or a FileNotFoundError saying where it looked."""
    start = Path.cwd() if start is None else Path(start)
    return require_shared(CURATED_LABELS, checkout=start.resolve().parent,
                          why="the notebooks (run from notebooks/)")


def curated_part(shared: Path, part: str) -> list[LabeledImage]:
    """The ``part`` ("train" or "test") of curated_vs_snapshot under the suite's split, in file order."""
    items = read_labels_csv(shared / "data" / "curated_vs_snapshot" / "labels.csv")
    return deterministic_split(items, part, TEST_FRACTION, SPLIT_SEED)


def balanced(items: Sequence[LabeledImage], per_class: int) -> list[LabeledImage]:
    """The first ``per_class`` images of each label, interleaved 1, 0, 1, 0, ... (file order within a label)."""
    positives = [i for i in items if i.label == 1][:per_class]
    negatives = [i for i in items if i.label == 0][:per_class]
    if min(len(positives), len(negatives)) < per_class:
        raise ValueError(f"asked for {per_class} images per class, but there are {len(positives)} aesthetic "
                         f"and {len(negatives)} not")
    return [item for pair in zip(positives, negatives) for item in pair]


def write_labels_csv(items: Sequence[LabeledImage], path: Path) -> Path:
    """A ``path,label`` CSV (absolute paths) that every ``aesthetic`` command and ``extract`` read."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["path", "label"])
        writer.writerows([str(item.path), item.label] for item in items)
    return path


def work_folder(name: str) -> Path:
    """A new, empty folder for one run of a notebook (``<name>-XXXX``): inside ``AESTHETIC_NOTEBOOK_WORK``
    when set (the test suite points it into pytest's tmp_path), else in the system's temporary folder.
    Fresh on every run, so a second run never meets the first one's checkpoints or bundles."""
    import tempfile

    root = os.environ.get("AESTHETIC_NOTEBOOK_WORK")
    if root:
        Path(root).mkdir(parents=True, exist_ok=True)
        return Path(tempfile.mkdtemp(prefix=f"{name}-", dir=root))
    return Path(tempfile.mkdtemp(prefix=f"aesthetic-{name}-"))
