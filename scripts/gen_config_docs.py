"""Write docs/configuration.md from the configuration models themselves, so the tables cannot drift.

    .venv/bin/python scripts/gen_config_docs.py          # rewrite docs/configuration.md
    .venv/bin/python scripts/gen_config_docs.py --check  # exit 1 if it is stale (the test suite runs this)

Names, types, defaults and bounds come from the pydantic models (``model_fields``) and, for the
scikit-learn-style selectors, from the constructor signatures. A field's description is the
model's own ``Field(description=...)`` when it has one, else the text in ``DESCRIPTIONS`` below;
a field with neither is an error, so a new option cannot land undocumented.
"""

from __future__ import annotations

import inspect
import sys
import types
import typing
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # the shared helper beside this script
from _docgen import write_or_check  # noqa: E402

OUT = Path(__file__).resolve().parents[1] / "docs" / "configuration.md"

#: Descriptions of fields whose model does not carry one ("Model.field" -> text).
DESCRIPTIONS: dict[str, str] = {
    # extraction
    "ExtractionConfig.branches": "Branches to extract, in fusion order (`aesthetic branches` lists them).",
    "ExtractionConfig.batch_size": "Images per forward pass (within one shape bucket).",
    "ExtractionConfig.dtype": "Precision of the stored features.",
    "ExtractionConfig.compression": "HDF5 compression of the feature datasets (none is fastest to read).",
    "ExtractionConfig.input_scale": "Shrinks every branch's input policy (tests and quick runs); 1.0 is the product's geometry.",
    "ExtractionConfig.max_pixels": "Images with more pixels are refused before decoding (decompression bombs).",
    "ExtractionConfig.seed": "Initialisation seed of branches without weights, so resumed jobs build identical networks.",
    "MaxSide.kind": "Discriminator in saved configs.",
    "MaxSide.side": "Length of the longer side after resizing (pixels).",
    "MaxSide.upscale": "Enlarge smaller images too (features then do not depend on the source size).",
    "Letterbox.kind": "Discriminator in saved configs.",
    "Letterbox.size": "Side of the square canvas (pixels).",
    "Letterbox.fill": "Grey level of the padding.",
    "Resize.kind": "Discriminator in saved configs.",
    "Resize.height": "Output height (pixels).",
    "Resize.width": "Output width (pixels).",
    # labels
    "LabelRule.source": "`binary` reads 0/1 labels; `mean` a mean-score column; `distribution` ten vote counts (their mean).",
    "LabelRule.threshold": "Score above which an image is aesthetic (AVA: 5).",
    "LabelRule.margin": "With m > 0: >= threshold + m is 1, <= threshold - m is 0, scores between are dropped.",
    "LabelRule.path_column": "CSV column holding the image path.",
    "LabelRule.label_column": "CSV column of 0/1 labels (`binary`).",
    "LabelRule.score_column": "CSV column of mean scores (`mean`).",
    "LabelRule.distribution_column": "CSV column of ten space-separated vote counts (`distribution`).",
    # classifier and distillation
    "DistillConfig.calibration": "Inherited from FCConfig; a distilled student keeps its validation-row threshold and is not calibrated.",
    "DistillConfig.threshold_folds": "Inherited from FCConfig; not used by distillation (threshold on the validation rows).",
    "DistillConfig.temperature": "T: teacher and student logits are divided by T in the soft term (scaled by T^2).",
    "DistillConfig.alpha": "Weight of the hard-label term; 1 - alpha goes to the teacher's soft labels.",
    "DistillConfig.hidden": "Widths of the student FC's hidden blocks.",
    "DistillConfig.dropout": "Dropout rate of the student FC.",
    "DistillConfig.l2": "L2 penalty on the student's hidden kernels.",
    "DistillConfig.learning_rate": "Adam learning rate.",
    "DistillConfig.batch_size": "Rows per training step.",
    "DistillConfig.epochs": "Most epochs (early stopping on the validation loss).",
    "DistillConfig.patience": "Epochs without improvement before stopping.",
    "DistillConfig.validation_fraction": "Share of source images held out for early stopping and the threshold.",
    "DistillConfig.class_weight": "`balanced` or `none`, as for the FC.",
    "DistillConfig.threshold_metric": "Metric the student's own threshold maximises on its validation rows.",
    "DistillConfig.seed": "Seed of the split, initial weights and dropout.",
    "StudentConfig.image_size": "Side of the square input; photos are squashed to it (NIMA's policy).",
    "StudentConfig.head": "Widths of the Dense -> ReLU -> Dropout layers on the pooled MobileNet features.",
    "StudentConfig.dropout": "Dropout rate in the head.",
    "StudentConfig.temperature": "Distillation temperature T.",
    "StudentConfig.alpha": "Weight of the hard-label term.",
    "StudentConfig.trainable_backbone_layers": "Last backbone layers to fine-tune (BatchNorm stays frozen); 0 trains the head only.",
    "StudentConfig.epochs": "Most epochs.",
    "StudentConfig.patience": "Epochs without improvement before stopping.",
    "StudentConfig.batch_size": "Images per training step.",
    "StudentConfig.learning_rate": "Adam learning rate.",
    "StudentConfig.validation_fraction": "Share of source images held out.",
    "StudentConfig.class_weight": "`balanced` or `none`.",
    "StudentConfig.threshold_metric": "Metric the student's threshold maximises on its validation rows.",
    "StudentConfig.augment": "Random flips, crops and colour/exposure jitter on the fly (AugmentConfig).",
    "StudentConfig.augment_config": "Ranges of the augmentation, see AugmentConfig.",
    "StudentConfig.seed": "Seed of the split, weights, dropout and augmentation.",
    "AugmentConfig.flip": "Mirror left-right with probability 0.5.",
    "AugmentConfig.crop": "Smallest kept fraction of each side (1 = no crop).",
    "AugmentConfig.exposure": "Exposure change up to +- this many stops (a factor 2**ev).",
    "AugmentConfig.contrast": "Contrast factor within 1 +- this.",
    "AugmentConfig.saturation": "Saturation factor within 1 +- this.",
    "AugmentConfig.colour": "Independent per-channel gains within 1 +- this (a white-balance shift).",
    # explanations
    "ExplainConfig.methods": "`lime`, `shap` or both (same superpixels, the photo scored once).",
    "ExplainConfig.num_samples": "Perturbed samples per explanation (more: steadier weights, linear cost).",
    "ExplainConfig.batch_size": "Perturbed images per model call.",
    "ExplainConfig.baseline": "Fill of a removed superpixel: `mean` (photo's mean colour), `blur`, `superpixel_mean`, `gray`, `black`.",
    "ExplainConfig.seed": "Sampling seed (LIME's masks, SHAP's coalitions).",
    "ExplainConfig.segmentation": "How the photo is cut into superpixels, see SegmentationConfig.",
    "ExplainConfig.bar_top": "Superpixels shown in the SHAP bar chart.",
    "SegmentationConfig.method": "`slic` (k-means in colour and position), `quickshift` (LIME's default) or `grid` (equal rectangles).",
    "SegmentationConfig.grid_rows": "grid: rows of rectangles.",
    "SegmentationConfig.grid_cols": "grid: columns of rectangles.",
    "SegmentationConfig.seed": "quickshift's random seed.",
    # benchmark suites
    "SuiteSpec.name": "Name shown in the report.",
    "SuiteSpec.description": "What the data is (Markdown), copied into the report.",
    "SuiteSpec.caveats": "What a reader must know before trusting a number; listed in the report.",
    "SuiteSpec.split": "The deterministic split used by every source that names a `part`.",
    "SuiteSpec.train": "Set the hand-crafted baselines are fitted on (and the leakage check compares against).",
    "SuiteSpec.sets": "Named benchmark sets (`[sets.NAME]`); at least one; none may be called `train`.",
    "SuiteSpec.robustness": "Re-score one set under test-time transformations.",
    "SetSpec.labels": "A labels CSV (path,label), relative to the TOML file.",
    "SetSpec.folders": "A folder per class: `{\"1\" = \"good/\", \"0\" = \"bad/\"}`.",
    "SetSpec.part": "`train` or `test`: one part of the suite's split of this source.",
    "SetSpec.scores": "Column of the labels CSV with human 1-10 mean scores or 10 vote counts: the report adds SRCC/PLCC for 1-10 scorers.",
    "SetSpec.sources": "Several sources in one set (instead of one inline source).",
    "SetSpec.description": "One line shown in the report.",
    "SourceSpec.labels": "A labels CSV, relative to the TOML file.",
    "SourceSpec.folders": "A folder per class.",
    "SourceSpec.part": "`train` or `test` part of the split.",
    "SourceSpec.scores": "Column of the labels CSV with human 1-10 mean scores or rating distributions.",
    "ScoreRule.threshold": "Mean score at which P(aesthetic) = 0.5; aesthetic when mean >= threshold (`--score-threshold`).",
    "ScoreRule.scale": "P(aesthetic) = sigmoid((mean - threshold) / scale), in rating points (`--score-scale`).",
    "SplitSpec.test_fraction": "Share of each label that goes to the test part.",
    "SplitSpec.seed": "Each image's part is fixed by sha256(\"seed:path\").",
    "RobustnessSpec.set": "Name of the set to transform (one of `sets`).",
    "RobustnessSpec.transforms": "List of `{kind = ..., ...}` tables (below); default: blur 1/3, noise 8/20, jpeg 30/10, exposure -1/+1, center_crop, rotate 10.",
    "RobustnessSpec.max_images": "Transform only the first N images of the set.",
    "Blur.kind": "`blur`",
    "Blur.sigma": "Gaussian sigma (pixels).",
    "Noise.kind": "`noise`",
    "Noise.sigma": "Standard deviation of Gaussian noise (grey levels).",
    "Noise.seed": "Noise seed.",
    "Jpeg.kind": "`jpeg`",
    "Jpeg.quality": "JPEG quality of the round trip.",
    "Exposure.kind": "`exposure`",
    "Exposure.ev": "Stops in linear light (+1 doubles).",
    "CenterCrop.kind": "`center_crop`: the largest centred square (removes the aspect-ratio cue).",
    "Rotate.kind": "`rotate`",
    "Rotate.degrees": "Rotation about the centre, borders reflected.",
    # selectors (constructor parameters)
    "BranchPCA.n_components": "None: the original's multigap 8464 + efficientnet 1280; an int or a fraction of each branch's width; or `{branch: value}`. Capped at min(images, width).",
    "BranchPCA.remainder": "`passthrough` or `drop`: what happens to branches a mapping does not name.",
    "BranchPCA.whiten": "Divide each component by its standard deviation.",
    "BranchPCA.batch_size": "Rows read and accumulated at a time (memory is bounded by the width, not the image count).",
    "GeneticSelector.k": "Features per individual (unique fused-column indices).",
    "GeneticSelector.population": "Individuals per generation.",
    "GeneticSelector.elite": "Best individuals kept unchanged (with their fitness) each generation.",
    "GeneticSelector.parents": "Best individuals that breed; population - parents children replace the rest.",
    "GeneticSelector.window": "Consecutive parents voting for each child's genes.",
    "GeneticSelector.keep_fraction": "Fraction of genes a mutated (non-elite) parent keeps.",
    "GeneticSelector.generations": "Generations after the random one; more than a finished run had continues it.",
    "GeneticSelector.seed": "Seed of everything random: same seed and data, same run.",
    "GeneticSelector.fitness": "`fc`: validation balanced accuracy of the FC on the individual's features; `proxy`: ridge regression, much cheaper.",
    "GeneticSelector.hidden": "Hidden widths of each individual's FC.",
    "GeneticSelector.dropout": "Dropout of each individual's FC.",
    "GeneticSelector.epochs": "Training epochs per evaluation.",
    "GeneticSelector.batch_size": "FC training batch size.",
    "GeneticSelector.learning_rate": "FC Adam learning rate.",
    "GeneticSelector.validation_fraction": "Share of the labelled rows held out (stratified, fixed by seed) to score fitness.",
    "GeneticSelector.individuals_per_step": "Individuals trained together as one batched model (None: as many as fit in 2 GiB).",
    "GeneticSelector.precision": "fp32 | bf16 | auto: precision of the fitness FCs' matmuls (auto: bf16 where the hardware runs it natively); variables, batch norm and loss stay float32.",
    "GeneticSelector.label_threshold": "Binarise non-0/1 labels: >= threshold is 1.",
    "GeneticSelector.memory_budget_mb": "Hold the fitness features in RAM up to this size, else stream them from the store.",
    "GeneticSelector.proxy_alpha": "proxy fitness: ridge penalty.",
    "GeneticSelector.proxy_max_rows": "proxy fitness: rows sampled for the ridge fit.",
    "GeneticSelector.checkpoint_dir": "Folder for checkpoint.json (every generation), history.json and fitness.png; a rerun resumes from it.",
    "GeneticSelector.resume": "Resume from checkpoint_dir's checkpoint when its settings and data match.",
    "GeneticSelector.progress": "Show progress per generation.",
    "GeneticSelector.engine": "`local`, or `ray`: each generation's fitness groups on Ray actors (same result).",
}

#: (heading, prose, [models or selector classes]) in document order.
def sections():
    from aesthetic.classifier.augmentation import AugmentConfig
    from aesthetic.classifier.fc import FCConfig
    from aesthetic.classifier.distillation import DistillConfig
    from aesthetic.explain.pipeline import ExplainConfig
    from aesthetic.explain.superpixels import SegmentationConfig
    from aesthetic.feature_extraction import ExtractionConfig
    from aesthetic.genetic_selection import BranchPCA, GeneticSelector
    from aesthetic.culling.config import CullConfig, GroupingConfig
    from aesthetic.imageio import Letterbox, MaxSide, ReadPolicy, Resize
    from aesthetic.data import LabelRule
    from aesthetic.benchmarks.report.benchmark import BenchmarkOptions
    from aesthetic.benchmarks.report.suite import RobustnessSpec, SetSpec, SourceSpec, SplitSpec, SuiteSpec
    from aesthetic.degradations import Blur, CenterCrop, Exposure, Jpeg, Noise, Rotate
    from aesthetic.classifier.student import StudentConfig
    from aesthetic.classifier.scores import ScoreRule
    from aesthetic.classifier.sensitivity import SensitivityConfig

    return [
        ("Feature extraction",
         "`aesthetic extract` options and `--config` keys (`weights` as a table `{ multigap = \"imagenet\", "
         "efficientnet = \"none\" }`), or `aesthetic.feature_extraction.ExtractionConfig` in Python. The "
         "config (minus `workers` and the byte limits of reading) is part of a job's identity: a killed job resumes only with the same "
         "images and settings. It is saved in the store's metadata. Each branch resizes with its own input "
         "policy (multigap `max_side(996)`, efficientnet `letterbox(600)`, mobilenet `resize(224x224, nearest)`), "
         "recorded per branch in the store.",
         [ExtractionConfig, MaxSide, Letterbox, Resize]),
        ("Reading photos and culling",
         "Every command that reads photos obeys ReadPolicy: `aesthetic extract` (as ExtractionConfig's "
         "`max_file_bytes`, `max_decode_bytes`, `max_pixels`), `aesthetic predict` (its `--config` keys) and "
         "`aesthetic cull` (CullConfig: ReadPolicy plus GroupingConfig, its `--config` keys). A file over a "
         "limit is skipped with its reason in the store, the CSV or the page; the run goes on. On the Ray "
         "engine the job's limits travel with every decode task.",
         [ReadPolicy, CullConfig, GroupingConfig]),
        ("Labels",
         "How a label file becomes 0/1 labels (`aesthetic train --labels FILE --label-source ... "
         "--score-threshold ... --margin ...`, or `aesthetic.data.load_labels(path, LabelRule(...))`). "
         "The rule is saved in the model bundle. File formats: [data_formats.md](data_formats.md).",
         [LabelRule]),
        ("Feature selection",
         "scikit-learn estimators: constructor parameters, not pydantic models (`aesthetic select pca|ga` "
         "options map onto them one to one). Saved with their fitted state by `selector.save(path)`.",
         [BranchPCA, GeneticSelector]),
        ("Classifier and distillation",
         "`aesthetic train` (FCConfig; ScoreRule for `--target distribution|mean`), `aesthetic distill` "
         "(DistillConfig) and `aesthetic distill --end-to-end` (StudentConfig, AugmentConfig). Each is saved "
         "in the bundle's `config.json`.",
         [FCConfig, ScoreRule, DistillConfig, StudentConfig, AugmentConfig]),
        ("Sensitivity training",
         "`aesthetic train` adds these rows by default when the store's photos are readable "
         "(`--no-sensitivity` turns it off; `--sensitivity-copies`, `--synthetic-frames`), or "
         "`train_from_store(..., sensitivity=SensitivityConfig(...))`. Saved in the bundle's `config.json` "
         "under `sensitivity`. Ranges are sampled uniformly, one degradation per copy.",
         [SensitivityConfig]),
        ("Explanations",
         "`aesthetic explain` options, or `aesthetic.explain.pipeline.ExplainConfig` in Python; recorded in "
         "every explanation's JSON.",
         [ExplainConfig, SegmentationConfig]),
        ("Benchmark run",
         "`aesthetic benchmark` options (`--config FILE` takes every field but `progress` and "
         "`extra_training_sets`), or `aesthetic.benchmarks.report.benchmark.BenchmarkOptions` in Python; recorded "
         "under `options` in report.json.",
         [BenchmarkOptions]),
        ("Benchmark suite TOML",
         "A suite file (`aesthetic benchmark MODEL --suite FILE.toml`; example: "
         "`benchmarks/suites/shared_data.toml`). Unknown keys are errors; relative paths resolve against the "
         "TOML file's folder; errors name the file and the key. Top level is `SuiteSpec`; `[split]` is "
         "`SplitSpec`; `[train]` and every `[sets.NAME]` are `SetSpec`s (one inline source, or `sources = "
         "[...]` of `SourceSpec`s); `[robustness]` is `RobustnessSpec`, whose `transforms` are tables "
         "chosen by `kind`.",
         [SuiteSpec, SplitSpec, SetSpec, SourceSpec, RobustnessSpec, Blur, Noise, Jpeg, Exposure, CenterCrop, Rotate]),
    ]


# --------------------------------------------------------------------------- rendering

def type_name(annotation) -> str:
    """A short readable type: ``int``, ``'a' | 'b'``, ``list of str``, ``SetSpec or None``."""
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin is typing.Annotated:
        return type_name(args[0])
    if origin is typing.Literal:
        return " \\| ".join(f"`{a!r}`" for a in args)
    if origin in (typing.Union, types.UnionType):
        members = [a for a in args if a is not type(None)]
        inner = " \\| ".join(type_name(a) for a in members) if len(members) > 1 else type_name(members[0])
        return f"{inner} or None" if len(members) < len(args) else inner
    if origin in (list, tuple, dict):
        if origin is dict:
            return f"dict {type_name(args[0])} -> {type_name(args[1])}"
        return f"{origin.__name__} of {type_name(args[0])}"
    return getattr(annotation, "__name__", str(annotation))


def show_default(value) -> str:
    """A default as the Python value a user would write."""
    from pydantic import BaseModel

    if isinstance(value, BaseModel):
        return f"{type(value).__name__}()"
    if isinstance(value, list) and value and all(isinstance(v, BaseModel) for v in value):
        return "see meaning"
    return f"`{value!r}`"


def bounds(metadata) -> str:
    symbols = {"gt": ">", "ge": ">=", "lt": "<", "le": "<=", "min_length": "length >="}
    parts = [f"{symbols[k]} {getattr(m, k)}" for m in metadata for k in symbols if hasattr(m, k)]
    return ", ".join(parts)


def describe(owner: str, name: str, own: str | None) -> str:
    text = DESCRIPTIONS.get(f"{owner}.{name}") or own  # an entry here overrides an inherited description
    if not text:
        raise KeyError(f"{owner}.{name} has no description: add Field(description=...) or an entry in "
                       f"DESCRIPTIONS in {Path(__file__).name}")
    return text.replace("|", "\\|") if own else text


def model_table(model) -> list[str]:
    from pydantic_core import PydanticUndefined

    rows = ["| field | type | default | bounds | meaning |", "|---|---|---|---|---|"]
    for name, field in model.model_fields.items():
        if field.default_factory is not None:
            default = show_default(field.default_factory())
        elif field.default is PydanticUndefined:
            default = "required"
        else:
            default = show_default(field.default)
        rows.append(f"| `{name}` | {type_name(field.annotation)} | {default} | {bounds(field.metadata)} | "
                    f"{describe(model.__name__, name, field.description)} |")
    return rows


def estimator_table(cls) -> list[str]:
    rows = ["| parameter | default | meaning |", "|---|---|---|"]
    for name, param in inspect.signature(cls.__init__).parameters.items():
        if name == "self":
            continue
        rows.append(f"| `{name}` | {show_default(param.default)} | {describe(cls.__name__, name, None)} |")
    return rows


#: One-line summaries of classes that have no docstring of their own.
SUMMARIES: dict[str, str] = {
    "SuiteSpec": "The whole suite file: its name, the data's description and caveats, the split, the training set, the named sets and the robustness section.",
    "RobustnessSpec": "The `[robustness]` section: which set is scored again after each test-time transformation.",
    "Blur": "Gaussian blur.",
    "Noise": "Additive Gaussian noise, seeded.",
    "Jpeg": "A JPEG round trip at a given quality.",
    "Exposure": "An exposure change in stops.",
    "CenterCrop": "The largest centred square.",
    "Rotate": "A small rotation.",
}


def summary(obj) -> str:
    """The first paragraph of the class's own docstring (not one inherited from pydantic), or SUMMARIES."""
    doc = obj.__dict__.get("__doc__")
    if not doc:
        if obj.__name__ not in SUMMARIES:
            raise KeyError(f"{obj.__name__} has no docstring: add one or an entry in SUMMARIES in {Path(__file__).name}")
        return SUMMARIES[obj.__name__]
    text = " ".join(inspect.cleandoc(doc).split("\n\n")[0].split()).replace("``", "`")
    return text.replace("the module docstring", f"the docstring of `{obj.__module__}`")


def public_path(obj) -> str:
    """The shortest module path that exports ``obj`` (``aesthetic.genetic_selection.BranchPCA``)."""
    import importlib

    parts = obj.__module__.split(".")
    for end in range(2, len(parts) + 1):
        module = importlib.import_module(".".join(parts[:end]))
        if getattr(module, obj.__name__, None) is obj:
            return f"{module.__name__}.{obj.__name__}"
    return f"{obj.__module__}.{obj.__name__}"


def render() -> str:
    from pydantic import BaseModel

    parts = ["# Configuration", "",
             "Every setting that changes a result is data: a pydantic model (validated once, saved next to the "
             "artifact it produced) or an estimator's constructor parameters. Defaults are shown as Python "
             "values. The tables are generated by `scripts/gen_config_docs.py` from the code; do not edit them "
             "by hand. Command-line options: [cli.md](cli.md).", "",
             "`aesthetic extract`, `predict`, `cull`, `select pca`, `select ga`, `train`, `explain` and `benchmark` "
             "take `--config FILE`: a TOML file whose keys are the fields of that command's table below "
             "(ExtractionConfig, ReadPolicy, CullConfig, BranchPCA, GeneticSelector, FCConfig, ExplainConfig, "
             "BenchmarkOptions). Options given on the command line override the "
             "file; an unknown key or a bad value is refused with a message naming the file and the key. "
             "For example, `aesthetic train features.h5 --out model --config fc.toml --epochs 50` with:", "",
             "```toml", "hidden = [256, 64]", "dropout = 0.4", "epochs = 100", "class_weight = \"none\"", "```", ""]
    for heading, prose, items in sections():
        parts += [f"## {heading}", "", prose, ""]
        for item in items:
            parts += [f"### `{item.__name__}`", "", f"`{public_path(item)}`: {summary(item)}", ""]
            parts += model_table(item) if issubclass(item, BaseModel) else estimator_table(item)
            parts.append("")
    return "\n".join(parts)


def main(argv: list[str]) -> int:
    return write_or_check(OUT, render(), argv, "gen_config_docs.py")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
