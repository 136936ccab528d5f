"""docs/configuration.md is generated from the configuration models and must match them."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import BaseModel, Field

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "scripts" / "gen_config_docs.py"


def generator():
    spec = importlib.util.spec_from_file_location("gen_config_docs", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_configuration_reference_is_current():
    result = subprocess.run([sys.executable, str(SCRIPT), "--check"], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_every_field_and_default_is_in_the_reference():
    gen = generator()
    text = (REPO / "docs" / "configuration.md").read_text()
    for _, _, items in gen.sections():
        for item in items:
            body = text.split(f"### `{item.__name__}`", 1)[1].split("\n### ", 1)[0]
            if issubclass(item, BaseModel):
                for name, field in item.model_fields.items():
                    assert f"| `{name}` |" in body, f"{item.__name__}.{name} missing"
            else:  # an estimator: its constructor defaults, checked against a fresh instance
                params = item().get_params(deep=False)
                for name, value in params.items():
                    assert f"| `{name}` | {gen.show_default(value)} |" in body, f"{item.__name__}.{name}"


def test_headings_name_the_public_import_and_the_class_summary():
    text = (REPO / "docs" / "configuration.md").read_text()
    assert "`aesthetic.genetic_selection.BranchPCA`: PCA of each branch separately" in text
    assert "`aesthetic.feature_extraction.ExtractionConfig`: Everything that determines" in text
    assert "Usage Documentation" not in text  # pydantic's own BaseModel docstring never leaks in


def test_a_field_without_a_description_is_refused():
    gen = generator()

    class Undocumented(BaseModel):
        documented: int = Field(1, description="has one")
        mystery: int = 2

    with pytest.raises(KeyError, match="Undocumented.mystery"):
        gen.model_table(Undocumented)


def test_types_defaults_and_bounds_render_readably():
    gen = generator()
    from aesthetic.classifier.fc import FCConfig
    from aesthetic.feature_extraction import ExtractionConfig

    rows = {row.split("|")[1].strip(): row for row in gen.model_table(ExtractionConfig)[2:]}
    assert "| `'gzip'` \\| `'lzf'` or None | `None` |" in rows["`compression`"]
    assert "| float | `1.0` | > 0, <= 4 |" in rows["`input_scale`"]
    fc_rows = {row.split("|")[1].strip(): row for row in gen.model_table(FCConfig)[2:]}
    assert "| tuple of int | `(512, 128, 32)` |" in fc_rows["`hidden`"]
