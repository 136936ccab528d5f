"""The distribution maps every code folder into the one `aesthetic` namespace."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_every_subpackage_is_in_the_wheel():
    setuptools = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]
    roots = setuptools["package-dir"]
    expected = set()
    for package, folder in roots.items():
        for init in (REPO / folder).rglob("__init__.py"):
            relative = init.parent.relative_to(REPO / folder).parts
            expected.add(".".join((package, *relative)))
    assert expected == set(setuptools["packages"])


def test_no_top_level_module_named_like_a_folder(tmp_path):
    # A fresh interpreter outside the checkout, so the repo root is not on sys.path.
    code = ("import importlib.util, aesthetic.explain, aesthetic.benchmarks.report, aesthetic.feature_extraction.branches\n"
            "print([b for b in ('explain', 'genetic_selection', 'feature_extraction', 'benchmarks')"
            " if importlib.util.find_spec(b) is not None])")
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
