"""What a branch is: a backbone that knows its input policy, preprocessing and weights."""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from typing import ClassVar

import numpy as np

from aesthetic.imageio import InputPolicy
from ..weights import KnownWeights, ResolvedWeights, WeightsError, download_failure_message

log = logging.getLogger(__name__)


class Branch(ABC):
    """One feature branch. Subclasses set the class attributes and ``_backbone``.

    ``build`` returns a Keras model mapping a preprocessed float32 batch
    ``(n, h, w, 3)`` to features ``(n, width)``; ``preprocess`` turns the uint8
    RGB batch produced by ``policy`` into that float32 input.
    """

    name: ClassVar[str]
    width: ClassVar[int]
    policy: ClassVar[InputPolicy]
    description: ClassVar[str]
    known_weights: ClassVar[tuple[KnownWeights, ...]] = ()
    min_side: ClassVar[int] = 32

    @abstractmethod
    def preprocess(self, batch: np.ndarray) -> np.ndarray:
        """uint8 RGB ``(n, h, w, 3)`` to the backbone's float32 input."""

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
