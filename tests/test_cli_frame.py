"""The one CLI frame: help readable in 80 columns, one error path, escaped paths, --config files."""

from __future__ import annotations

import re
from pathlib import Path

import cv2
import numpy as np
import pytest
import typer
from typer.testing import CliRunner

from aesthetic import cli_utils
from aesthetic.cli import app
from aesthetic.classifier.fc import FCConfig
from aesthetic.cli_utils import EXIT_CODES, EXIT_USAGE, ConfigSpec, UserError, guarded

REPO = Path(__file__).resolve().parents[1]


def invoke(*args, **kwargs):
    return CliRunner().invoke(app, [str(a) for a in args], **kwargs)


def all_commands():
    """(["select", "pca"], click command) for every command of the app."""
    def walk(command, path):
        if hasattr(command, "list_commands"):  # a group (typer ships its own click core)
            ctx = command.context_class(command)
            for name in command.list_commands(ctx):
                yield from walk(command.get_command(ctx, name), path + [name])
        else:
            yield path, command
    return list(walk(typer.main.get_command(app), []))


@pytest.mark.parametrize("path, command", all_commands(), ids=lambda v: " ".join(v) if isinstance(v, list) else "")
def test_help_in_80_columns_shows_every_option_name_whole(path, command):
    result = invoke(*path, "--help", env={"COLUMNS": "80"}, terminal_width=80)
    assert result.exit_code == 0, result.output
    for param in command.params:
        for name in [*param.opts, *param.secondary_opts]:
            if name.startswith("-"):
                assert re.search(rf"(?<![\w-]){re.escape(name)}(?![\w-])", result.output), f"{name} cut in {path}"
    assert "…" not in result.output and "--no-no-" not in result.output
    assert max(len(line) for line in result.output.splitlines()) <= 80


def test_a_user_error_is_one_line_on_stderr_naming_the_path_even_with_markup(tmp_path):
    missing = tmp_path / "photos[/b]"
    result = invoke("extract", missing, "--out", tmp_path / "f.h5")
    assert result.exit_code == EXIT_USAGE
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:") and str(missing) in lines[0]


def test_predict_names_a_missing_bundle_whose_path_holds_markup(tmp_path):
    result = invoke("predict", tmp_path / "model[/b]", tmp_path / "x.jpg")
    assert result.exit_code == EXIT_USAGE and "model[/b]" in result.stderr and "Traceback" not in result.output


def test_programming_errors_keep_their_traceback_and_bad_input_exits_2():
    @guarded
    def buggy():
        raise TypeError("a bug")

    @guarded
    def bad_input():
        raise UserError("photos.csv: no 'path' column")

    with pytest.raises(TypeError):
        buggy()
    with pytest.raises(typer.Exit) as exit_info:
        bad_input()
    assert exit_info.value.exit_code == EXIT_USAGE


def test_every_command_runs_inside_the_error_frame():
    for path, command in all_commands():
        assert getattr(command.callback, "_guarded", False), path


def _spec_commands():
    from aesthetic.feature_extraction.cli import EXTRACTION
    from aesthetic.genetic_selection.cli import GA, PCA
    from aesthetic.benchmarks.report.cli import BENCHMARK
    from aesthetic.classifier.cli import FC

    return {("extract",): EXTRACTION, ("select", "pca"): PCA, ("select", "ga"): GA, ("train",): FC,
            ("benchmark",): BENCHMARK}


def test_option_defaults_are_the_models_and_are_not_restated_in_the_signature():
    from aesthetic.classifier.fc import FCConfig
    from aesthetic.feature_extraction import ExtractionConfig
    from aesthetic.genetic_selection import BranchPCA, GeneticSelector
    from aesthetic.benchmarks.report.benchmark import BenchmarkOptions

    commands = dict((tuple(p), c) for p, c in all_commands())
    models = {("extract",): ExtractionConfig().model_dump(), ("train",): FCConfig().model_dump(),
              ("benchmark",): BenchmarkOptions().model_dump(),
              ("select", "pca"): BranchPCA().get_params(), ("select", "ga"): GeneticSelector().get_params()}
    for path, spec in _spec_commands().items():
        merged = spec.merge(None, {})
        for key, value in merged.items():
            assert value == models[path][key], (path, key)
        flags = {opt: p for p in commands[path].params for opt in p.opts}
        for key, flag in spec.flags.items():
            param = flags[flag]
            assert param.default is None, (path, flag)  # None = "not given": the model decides
            shown = cli_utils.show_default(models[path][key])
            assert f"[default: {shown}]" in param.help or isinstance(models[path][key], bool) or not shown, \
                (path, flag)


def test_config_file_sets_values_and_options_override_them(tmp_path):
    from aesthetic.genetic_selection import load_selector
    from aesthetic.genetic_selection.synthetic import planted_features, write_synthetic_store

    X, y, _ = planted_features(60, 30, 4, shift=0.8, seed=1)
    store = write_synthetic_store(tmp_path / "features.h5", X, labels=y, branches={"multigap": 20, "efficientnet": 10})
    config = tmp_path / "pca.toml"
    config.write_text("n_components = 4\nwhiten = true\nbatch_size = 16\n")
    result = invoke("select", "pca", store, "--out", tmp_path / "sel", "--config", config, "--components", "3")
    assert result.exit_code == 0, result.output
    params = load_selector(tmp_path / "sel").get_params()
    assert params["n_components"] == 3 and params["whiten"] is True and params["batch_size"] == 16


def test_unknown_config_key_is_refused_naming_the_file_and_the_key(tmp_path):
    config = tmp_path / "ga.toml"
    config.write_text("populaton = 10\n")
    result = invoke("select", "ga", tmp_path / "features.h5", "--out", tmp_path / "ga", "--config", config)
    assert result.exit_code == EXIT_USAGE
    assert str(config) in result.stderr and "'populaton'" in result.stderr and "Traceback" not in result.output


@pytest.mark.parametrize("text, message", [("epochs = 0\n", "key 'epochs'"), ("epochs = [\n", "not a valid TOML")])
def test_bad_config_values_name_the_file(tmp_path, text, message):
    config = tmp_path / "fc.toml"
    config.write_text(text)
    result = invoke("train", tmp_path / "features.h5", "--out", tmp_path / "m", "--config", config)
    assert result.exit_code == EXIT_USAGE and str(config) in result.stderr and message in result.stderr


def test_a_bad_option_value_names_the_option():
    spec = ConfigSpec(FCConfig)
    spec.option("dropout", "--dropout")
    with pytest.raises(UserError, match=r"--dropout 1\.5: "):
        spec.merge(None, {"dropout": 1.5})


def test_extract_reads_its_config_and_prints_a_markup_path_literally(tmp_path, astronaut):
    from aesthetic.feature_store import FeatureStore

    folder = tmp_path / "a[/b]photos"
    folder.mkdir(parents=True)  # "a[" / "b]photos": the path holds the markup "[/b]"
    for i in range(2):
        cv2.imwrite(str(folder / f"img_{i}.png"), np.ascontiguousarray(astronaut[::4, ::4, ::-1]))
    config = tmp_path / "extract.toml"
    config.write_text('branches = ["mobilenet"]\ninput_scale = 0.25\ndtype = "float32"\n'
                      'weights = { mobilenet = "none" }\n')
    out = tmp_path / "f[/i].h5"
    out.parent.mkdir()
    result = invoke("extract", folder, "--out", out, "--config", config, "--dtype", "float16", "--no-progress")
    assert result.exit_code == 0, result.output
    assert str(out) in result.stdout
    with FeatureStore.open(out) as store:
        saved = store.metadata["job"]["config"]  # the ExtractionConfig the store was made with
    assert saved["dtype"] == "float16" and saved["input_scale"] == 0.25 and saved["branches"] == ["mobilenet"]
    # weights are recorded by content in the job identity: "none" | "imagenet" | "sha256:..."
    assert saved["weights"] == {"mobilenet": "none"} and saved["batch_size"] == 8  # the model's default


def test_exit_codes_are_documented_in_the_cli_reference():
    text = (REPO / "docs" / "cli.md").read_text()
    assert "## Exit codes" in text
    for code, meaning in EXIT_CODES.items():
        assert f"| {code} | {meaning} |" in text


def test_every_known_user_error_class_resolves():
    # a class moved without updating cli_utils.USER_ERROR_CLASSES would silently become a traceback
    classes = cli_utils.user_error_types()
    assert len(classes) == 3 + len(cli_utils.USER_ERROR_CLASSES)
    assert all(isinstance(c, type) and issubclass(c, BaseException) for c in classes)
