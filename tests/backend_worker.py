"""Run by tests/test_backends.py in a subprocess with KERAS_BACKEND set (the backend is fixed per process).

``python backend_worker.py OUT REF BRANCHES`` computes, on this process's backend, what the test
compares across backends, and writes it to ``OUT/<backend>.npz``. ``REF`` holds the files the
TensorFlow run writes and every other run reads: random branch weights (``<branch>.weights.h5``),
the FC's initial weights and a full bundle. ``BRANCHES``: comma-separated branches to compare
with random weights at small size.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

DEMO = Path(__file__).resolve().parents[1] / "src" / "aesthetic" / "data" / "demo_set" / "images"
N_FEATURES, INPUT_SCALE = 5952, 0.3


def demo_paths(n: int = 4) -> list[str]:
    return [str(p) for p in sorted(DEMO.glob("*.jpg"))[:n]]


def small_images() -> list[np.ndarray]:
    rng = np.random.default_rng(0)
    return [rng.integers(0, 256, (150, 200, 3), dtype=np.uint8) for _ in range(2)]


def branch_features(branch: str, ref: Path, backend: str) -> np.ndarray:
    """Random-weight features at small size: TensorFlow writes its weights, the others load them."""
    from aesthetic.feature_extraction.extractor import FeatureExtractor

    fx = FeatureExtractor([branch], weights=None, input_scale=INPUT_SCALE, batch_size=2)
    weights = ref / f"{branch}.weights.h5"
    if backend == "tensorflow":
        fx.model(branch).save_weights(weights)
    else:
        fx.model(branch).load_weights(weights)
    return fx.extract_arrays(small_images())[branch]


def fc_step(ref: Path, backend: str):
    """One Adam step of the classifier's FC on fixed data from TensorFlow's initial weights."""
    import keras

    from aesthetic.classifier.fc import build_fc, predict_batched

    rng = np.random.default_rng(1)
    x = rng.normal(size=(32, N_FEATURES)).astype(np.float32)
    y = (x[:, 0] > 0).astype(np.float32)
    model = build_fc(N_FEATURES, hidden=(16, 8), dropout=0.0, seed=0)
    init = ref / "fc_init.weights.h5"
    if backend == "tensorflow":
        model.save_weights(init)
    else:
        model.load_weights(init)
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss=keras.losses.BinaryCrossentropy())
    loss = float(np.asarray(keras.ops.convert_to_numpy(model.train_on_batch(x, y))))
    return model, x, np.array([loss], np.float32), predict_batched(model, x)


def ga_generation():
    """One generation's fitness of a small population (dropout 0: the same numbers on every backend)."""
    from aesthetic.genetic_selection.fitness import ArraySource, FCFitness, FitnessFC

    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 40)).astype(np.float32)
    y = (X[:, :3].sum(axis=1) > 0).astype(np.float32)
    train, val = ArraySource(X, np.arange(150), y[:150]), ArraySource(X, np.arange(150, 200), y[150:])
    spec = FitnessFC(hidden=(8, 4), epochs=2, batch_size=32, dropout=0.0)
    population = rng.permuted(np.tile(np.arange(40), (5, 1)), axis=1)[:, :10]
    fitness = FCFitness(train, val, spec, seed=3)
    scores = fitness(population, 0)
    model = fitness._model(5, 10)
    return scores, model.logits(X[150:]), type(model).__name__


def bundle(ref: Path, backend: str, fc_model, x: np.ndarray):
    """TensorFlow saves a full bundle (the FC above, mobilenet with NIMA weights); every backend loads it."""
    from aesthetic.bundles.model import load_model, save_full_bundle
    from aesthetic.feature_extraction.extractor import FeatureExtractor
    from aesthetic.genetic_selection.base import AllFeatures

    out = ref / "bundle"
    if backend == "tensorflow":
        selector = AllFeatures().fit(x, branches={"mobilenet": N_FEATURES})
        config = FeatureExtractor(["mobilenet"], weights={"mobilenet": "nima"}).config().model_dump()
        save_full_bundle(out, fc_model=fc_model, selector=selector, extractor_config=config,
                         threshold=0.5, metrics={})
    model = load_model(out)
    return model.predict_features(x), model.predict(demo_paths(), progress=False).p_aesthetic


def nima_features() -> np.ndarray:
    """Real weights on real photos: the mobilenet branch with the NIMA file."""
    from aesthetic.feature_extraction.extractor import FeatureExtractor

    fx = FeatureExtractor(["mobilenet"], weights={"mobilenet": "nima"}, batch_size=4)
    result = fx.extract_paths(demo_paths())
    assert result.ok.all(), result.errors
    return result.features["mobilenet"]


def main(out: Path, ref: Path, branches: list[str]) -> None:
    import keras

    from aesthetic.backend import describe

    backend = keras.backend.backend()
    arrays = {"nima_features": nima_features()}
    for branch in branches:
        arrays[f"branch_{branch}"] = branch_features(branch, ref, backend)
    fc_model, x, arrays["fc_loss"], arrays["fc_prob"] = fc_step(ref, backend)
    arrays["ga_fitness"], arrays["ga_logits"], ga_class = ga_generation()
    arrays["bundle_features_prob"], arrays["bundle_photo_prob"] = bundle(ref, backend, fc_model, x)
    arrays["info"] = np.array([describe()["backend"], ga_class])
    np.savez(out / f"{backend}.npz", **arrays)


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]), [b for b in sys.argv[3].split(",") if b])
