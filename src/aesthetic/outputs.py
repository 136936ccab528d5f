"""The one check every command runs before it writes (and so replaces) an output folder.

A command that writes a folder builds it beside the target and swaps it in, deleting the old one
(:func:`aesthetic.feature_store.atomic_dir`). That is safe only when the old folder is an earlier
artifact of the same command and holds none of this run's inputs: ``train m/features.h5 --out m``
would otherwise delete its own training data, and a typo in ``--out`` an unrelated folder.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Callable, Iterable, Optional, Union

PathLike = Union[str, os.PathLike]


class OutputError(ValueError):
    """An ``--out`` folder that a command must not replace."""


def _inside(path: Path, folder: Path) -> bool:
    return path == folder or folder in path.parents


def check_output_dir(out: PathLike, *, what: str, inputs: Iterable[Optional[PathLike]] = (),
                     is_artifact: Optional[Callable[[Path], bool]] = None) -> Path:
    """Refuse (one sentence, nothing touched) an ``out`` folder that writing would wrongly replace.

    ``what`` names the artifact ("model bundle", "benchmark report"). ``inputs``: every file or folder
    the command reads; none may lie inside ``out``. ``is_artifact(folder)``: whether an existing,
    non-empty ``out`` is an earlier artifact of this command (e.g. holds the bundle's config.json);
    when it is not, ``out`` is refused. Returns ``out`` as a Path.
    """
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise OutputError(f"--out {out}: exists and is not a folder; the {what} is written as a folder")
    target = out.resolve()
    for item in inputs:
        if item is None:
            continue
        if _inside(Path(item).resolve(), target):
            raise OutputError(f"--out {out}: it holds the input {item}, which writing the {what} would delete; "
                              f"write to another folder")
    if out.is_dir() and is_artifact is not None and any(out.iterdir()) and not is_artifact(out):
        raise OutputError(f"--out {out}: exists, is not empty and is not a {what}, so it is not replaced; "
                          f"choose another folder")
    return out


def check_output_file(out: PathLike, *, what: str, inputs: Iterable[Optional[PathLike]] = ()) -> Path:
    """Refuse an ``out`` file that is one of the command's ``inputs`` (writing would replace it) or a folder."""
    out = Path(out)
    if out.is_dir():
        raise OutputError(f"--out {out}: is a folder; give the {what} file to write")
    target = out.resolve()
    for item in inputs:
        if item is not None and Path(item).resolve() == target:
            raise OutputError(f"--out {out}: it is the input {item}, which writing the {what} would replace; "
                              f"write to another file")
    return out
