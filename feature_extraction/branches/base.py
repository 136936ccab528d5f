"""What a branch is: a backbone that knows its data settings (input policy, scaling, minimum side)
and its weights."""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from typing import Annotated, ClassVar

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from aesthetic.imageio import InputPolicy, MaxSide, pad_to_min_side, scale_policy
from ..weights import KnownWeights, ResolvedWeights, WeightsError, download_failure_message

log = logging.getLogger(__name__)

#: A side longer than any photo, to ask a policy for its largest output.
_HUGE = 1 << 16


class DataConfig(BaseModel):
    """What a backbone needs of its input pixels, in one object (like timm's data config).

    Extraction, explanations, the end-to-end student and the NIMA scorer read these instead
    of restating sizes and scaling. ``policy``: how a photo is resized (max side, letterbox,
    squash); ``divisor``/``offset``: the backbone input is ``pixels / divisor + offset``
    (``127.5`` and ``-1`` map 0..255 to [-1, 1]; 1 and 0 pass pixels through for a model
    that normalises inside); ``min_side``: inputs are centre-padded up to it.
    """

    model_config = ConfigDict(frozen=True)
    policy: Annotated[InputPolicy, Field(discriminator="kind")]
    divisor: float = Field(1.0, gt=0)
    offset: float = 0.0
    min_side: int = Field(32, ge=1)

    def prepare(self, image: np.ndarray) -> np.ndarray:
        """One decoded ``(H, W, 3) uint8`` photo resized by the policy and padded to ``min_side``."""
        return pad_to_min_side(self.policy.apply(image), self.min_side)

    def normalize(self, batch: np.ndarray) -> np.ndarray:
        """uint8 RGB ``(n, h, w, 3)`` (as from :meth:`prepare`) to the backbone's float32 input."""
        x = np.asarray(batch).astype(np.float32)
        if self.divisor != 1.0:
            x = x / self.divisor
        if self.offset:
            x = x + self.offset
        return x

    @property
    def longest_side(self) -> int:
        """The longest side the policy ever produces (996 for max side 996)."""
        return int(max(self.policy.output_shape(_HUGE, _HUGE)))

    def scaled(self, factor: float, upscale: bool | None = None) -> "DataConfig":
        """The same settings at ``factor`` times the input size (tests, quick benchmarks); ``upscale``
        overrides a max-side policy's choice to enlarge small photos."""
        policy = scale_policy(self.policy, factor)
        if upscale is not None and isinstance(policy, MaxSide):
            policy = policy.model_copy(update={"upscale": bool(upscale)})
        return self.model_copy(update={"policy": policy})


class Branch(ABC):
    """One feature branch. Subclasses set the class attributes and ``_backbone``.

    ``build`` returns a Keras model mapping a preprocessed float32 batch
    ``(n, h, w, 3)`` to features ``(n, width)``; ``data_config`` says how a photo
    becomes that input (``prepare`` then ``normalize``).
    """

    name: ClassVar[str]
    width: ClassVar[int]
    data_config: ClassVar[DataConfig]
    description: ClassVar[str]
    known_weights: ClassVar[tuple[KnownWeights, ...]] = ()
    #: A branch without weights (computed statistics): every weights setting is ignored for it.
    weightless: ClassVar[bool] = False
    #: The definition of the branch's features. Bump it whenever a change alters any feature value (a new
    #: statistic, another layer, another input size): stores, sensitivity caches and bundles record it, and
    #: features of another version are refused rather than mixed with this one's.
    version: ClassVar[int] = 1

    def preprocess(self, batch: np.ndarray) -> np.ndarray:
        """uint8 RGB ``(n, h, w, 3)`` to the backbone's float32 input (``data_config.normalize``)."""
        return self.data_config.normalize(batch)

    @abstractmethod
    def _backbone(self, weights: ResolvedWeights):
        """(keras_model, layer_names) producing ``(n, width)`` features."""

    def layer_names(self) -> list[str]:
        """Names of the pooled layers, in concatenation order (needs a build; cheap with weights None)."""
        return self._backbone(ResolvedWeights("none"))[1]

    def build(self, weights: ResolvedWeights):
        """Build the feature model with resolved weights; errors name the file and the branch."""
        try:
            model, layers = self._backbone(weights)
        except WeightsError:
            raise
        except Exception as exc:  # Keras raises many types for a bad file or a failed download
            if weights.kind == "imagenet":
                log.debug("ImageNet download failed for %s", self.name, exc_info=True)
                raise WeightsError(download_failure_message(self.name, self.known_weights)) from None
            if weights.kind == "file":
                raise WeightsError(
                    f"{weights.path}: could not be loaded into the '{self.name}' backbone "
                    f"({type(exc).__name__}: {str(exc).splitlines()[0][:200]}); is it the right weights file? "
                    + (f"expected {self.known_weights[0].filename}" if self.known_weights else "")) from None
            raise
        out_width = int(model.output.shape[-1])
        if out_width != self.width:
            raise AssertionError(f"branch {self.name}: built width {out_width} != declared {self.width}")
        return model, layers
