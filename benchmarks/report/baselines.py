"""Hand-crafted baselines a sceptic asks for: is the model better than sharpness or aspect ratio?

Six global features, computed with numpy/OpenCV on a copy downsized so the longer
side is at most ``FEATURE_SIDE`` pixels (aspect ratio comes from the full image):

============== ==================================================================
sharpness      variance of the Laplacian of the grey image (grey levels^2)
contrast       RMS contrast: standard deviation of grey / 255
colorfulness   Hasler & Suesstrunk (2003): sigma_rgyb + 0.3 mu_rgyb, in 0..255 units
brightness     mean luma (Rec. 601 Y) / 255
saturation     mean HSV saturation / 255
aspect_ratio   width / height
============== ==================================================================

A baseline is a logistic regression on standardised features, fitted with
``class_weight="balanced"`` so that a threshold of 0.5 suits imbalanced training
data: one on all six, and one per single feature. A model that cannot beat
``aspect_ratio`` alone has learned the framing of the training sources, not
aesthetics. Fitted baselines persist as JSON (coefficients, no pickle).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Sequence

import cv2
import numpy as np

FEATURE_NAMES: tuple[str, ...] = ("sharpness", "contrast", "colorfulness", "brightness",
                                  "saturation", "aspect_ratio")
FEATURE_SIDE = 256
FORMAT = "aesthetic-handcrafted-baselines"


def _downsized(image: np.ndarray, side: int = FEATURE_SIDE) -> np.ndarray:
    h, w = image.shape[:2]
    scale = side / max(h, w)
    if scale >= 1:
        return image
    size = (max(1, int(round(w * scale))), max(1, int(round(h * scale))))
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA)


def colorfulness(image: np.ndarray) -> float:
    """Hasler-Suesstrunk colourfulness of an RGB image (0 for grey; ~100+ very colourful)."""
    rgb = image.astype(np.float64)
    rg = rgb[..., 0] - rgb[..., 1]
    yb = 0.5 * (rgb[..., 0] + rgb[..., 1]) - rgb[..., 2]
    sigma = np.sqrt(rg.std() ** 2 + yb.std() ** 2)
    mu = np.sqrt(rg.mean() ** 2 + yb.mean() ** 2)
    return float(sigma + 0.3 * mu)


def handcrafted_features(image: np.ndarray) -> np.ndarray:
    """``(6,) float64`` features of one ``(H, W, 3) uint8`` RGB image, in FEATURE_NAMES order."""
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"expected an (H, W, 3) uint8 RGB image, got {image.dtype} {image.shape}")
    h, w = image.shape[:2]
    small = _downsized(image)
    grey = cv2.cvtColor(small, cv2.COLOR_RGB2GRAY)  # Rec. 601 luma
    hsv = cv2.cvtColor(small, cv2.COLOR_RGB2HSV)
    return np.array([
        cv2.Laplacian(grey.astype(np.float64), cv2.CV_64F).var(),
        grey.std() / 255.0,
        colorfulness(small),
        grey.mean() / 255.0,
        hsv[..., 1].mean() / 255.0,
        w / h,
    ], dtype=np.float64)


def feature_matrix(images: Sequence[np.ndarray]) -> np.ndarray:
    """``(n, 6) float64`` features of a list of images."""
    if not images:
        return np.zeros((0, len(FEATURE_NAMES)))
    return np.stack([handcrafted_features(im) for im in images])


class HandcraftedLogistic:
    """Logistic regression on standardised hand-crafted features (sklearn-style estimator).

    ``features`` names the columns used (a subset of FEATURE_NAMES). ``fit`` takes the
    full ``(n, 6)`` matrix from :func:`feature_matrix`; learned state: ``mean_``,
    ``scale_`` (StandardScaler), ``coef_``, ``intercept_`` (per standardised feature).
    """

    def __init__(self, features: Sequence[str] = FEATURE_NAMES, C: float = 1.0,
                 class_weight: str | None = "balanced"):
        self.features = tuple(features)
        self.C = C
        self.class_weight = class_weight

    def _columns(self) -> list[int]:
        unknown = [f for f in self.features if f not in FEATURE_NAMES]
        if unknown or not self.features:
            raise ValueError(f"features must be a non-empty subset of {FEATURE_NAMES}, got {self.features}")
        return [FEATURE_NAMES.index(f) for f in self.features]

    def fit(self, X: np.ndarray, y: np.ndarray) -> "HandcraftedLogistic":
        from sklearn.linear_model import LogisticRegression
        from sklearn.preprocessing import StandardScaler

        X = np.asarray(X, dtype=np.float64)
        y = np.asarray(y)
        if X.ndim != 2 or X.shape[1] != len(FEATURE_NAMES) or len(X) != len(y):
            raise ValueError(f"X must be (n, {len(FEATURE_NAMES)}) with one label per row; got X "
                             f"{X.shape}, y {y.shape}")
        if len(np.unique(y)) != 2:
            raise ValueError("the baseline training set needs both classes (0 and 1)")
        cols = X[:, self._columns()]
        scaler = StandardScaler().fit(cols)
        lr = LogisticRegression(C=self.C, class_weight=self.class_weight, max_iter=1000)
        lr.fit(scaler.transform(cols), y)
        self.mean_ = scaler.mean_.astype(np.float64)
        self.scale_ = scaler.scale_.astype(np.float64)
        self.coef_ = lr.coef_.reshape(-1).astype(np.float64)
        self.intercept_ = float(lr.intercept_[0])
        self.n_train_ = int(len(y))
        return self

    def decision_function(self, X: np.ndarray) -> np.ndarray:
        cols = np.asarray(X, dtype=np.float64)[:, self._columns()]
        return ((cols - self.mean_) / self.scale_) @ self.coef_ + self.intercept_

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        """``(n,)`` P(aesthetic) from ``(n, 6)`` features."""
        return 1.0 / (1.0 + np.exp(-self.decision_function(X)))

    def to_dict(self) -> dict:
        return {"features": list(self.features), "C": self.C, "class_weight": self.class_weight,
                "mean": self.mean_.tolist(), "scale": self.scale_.tolist(),
                "coef": self.coef_.tolist(), "intercept": self.intercept_, "n_train": self.n_train_}

    @classmethod
    def from_dict(cls, d: dict) -> "HandcraftedLogistic":
        model = cls(d["features"], d["C"], d["class_weight"])
        model.mean_ = np.asarray(d["mean"], dtype=np.float64)
        model.scale_ = np.asarray(d["scale"], dtype=np.float64)
        model.coef_ = np.asarray(d["coef"], dtype=np.float64)
        model.intercept_ = float(d["intercept"])
        model.n_train_ = int(d["n_train"])
        if not (len(model.mean_) == len(model.scale_) == len(model.coef_) == len(model._columns())):
            raise ValueError("baseline JSON: mean, scale and coef must have one value per feature")
        return model


class _FeatureCache:
    """Shares one feature computation between the baselines scoring the same batch."""

    def __init__(self):
        self._images: list | None = None
        self._features: np.ndarray | None = None

    def features(self, images: list[np.ndarray]) -> np.ndarray:
        if images is not self._images:  # identity: the very list object scored last
            self._features = feature_matrix(images)
            self._images = images
        assert self._features is not None
        return self._features


class BaselineScorer:
    """A fitted :class:`HandcraftedLogistic` as a report Scorer (P(aesthetic), threshold 0.5)."""

    kind = "baseline"
    inclusive = False  # as LogisticRegression.predict: decision_function > 0
    probabilistic = True
    score_label = "P(aesthetic)"
    threshold = 0.5

    def __init__(self, model: HandcraftedLogistic, name: str, cache: _FeatureCache | None = None):
        self.model = model
        self.name = name
        self._cache = cache or _FeatureCache()

    def score_images(self, images: list[np.ndarray]) -> np.ndarray:
        return self.model.predict_proba(self._cache.features(images))


def baseline_name(features: Sequence[str]) -> str:
    if len(features) == 1:
        return f"baseline: {features[0].replace('_', ' ')}"
    return f"baseline: hand-crafted LR ({len(features)} features)"


def fit_baselines(X: np.ndarray, y: np.ndarray, single: Sequence[str] = FEATURE_NAMES
                  ) -> list[HandcraftedLogistic]:
    """The all-features baseline, then one single-feature baseline per name in ``single``."""
    models = [HandcraftedLogistic(FEATURE_NAMES).fit(X, y)]
    models += [HandcraftedLogistic((name,)).fit(X, y) for name in single]
    return models


def as_scorers(models: Sequence[HandcraftedLogistic]) -> list[BaselineScorer]:
    """Scorers sharing one feature cache, so six features are computed once per image."""
    cache = _FeatureCache()
    return [BaselineScorer(m, baseline_name(m.features), cache) for m in models]


def baselines_json(models: Sequence[HandcraftedLogistic]) -> str:
    return json.dumps({"format": FORMAT, "format_version": 1, "feature_side": FEATURE_SIDE,
                       "feature_names": list(FEATURE_NAMES),
                       "models": [m.to_dict() for m in models]}, indent=2)


def save_baselines(path: str | Path, models: Sequence[HandcraftedLogistic]) -> Path:
    """Write fitted baselines as JSON, atomically."""
    from aesthetic.fileio import atomic_write_text

    atomic_write_text(path, baselines_json(models))
    return Path(path)


def load_baselines(path: str | Path) -> list[HandcraftedLogistic]:
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise ValueError(f"{path}: cannot read baselines JSON ({exc})") from None
    if data.get("format") != FORMAT:
        raise ValueError(f"{path}: not a baselines file (format {data.get('format')!r})")
    if data.get("feature_names") != list(FEATURE_NAMES) or data.get("feature_side") != FEATURE_SIDE:
        raise ValueError(f"{path}: saved with other features ({data.get('feature_names')}, side "
                         f"{data.get('feature_side')}); refit them")
    return [HandcraftedLogistic.from_dict(d) for d in data["models"]]
