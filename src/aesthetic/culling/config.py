"""Grouping settings as data: validated once, written beside every result (see grouping.py for
how the defaults were measured)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, model_validator

from aesthetic.imageio import ReadPolicy

DEFAULT_MAX_DISTANCE = 12
DEFAULT_BURST_MAX_DISTANCE = 18
DEFAULT_BURST_WINDOW_S = 3.0


class GroupingConfig(BaseModel):
    """How near two photos' hashes (and capture times) must be to count as one scene."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    max_distance: int = Field(DEFAULT_MAX_DISTANCE, ge=0, le=64,
                              description="pHash Hamming distance (bits of 64) that joins any two photos.")
    burst_max_distance: int = Field(DEFAULT_BURST_MAX_DISTANCE, ge=0, le=64,
                                    description="Looser distance for photos taken within burst_window_s.")
    burst_window_s: float = Field(DEFAULT_BURST_WINDOW_S, ge=0.0,
                                  description="Seconds between EXIF capture times that make a burst (0: off).")

    @model_validator(mode="after")
    def _burst_is_looser(self) -> "GroupingConfig":
        if self.burst_max_distance < self.max_distance:
            raise ValueError(f"burst_max_distance ({self.burst_max_distance}) must be at least max_distance "
                             f"({self.max_distance}): the time window loosens the hash test, never tightens it")
        return self


class CullConfig(GroupingConfig, ReadPolicy):
    """`aesthetic cull`'s settings: how photos group (GroupingConfig) and the limits of reading them
    (ReadPolicy). Its fields are the command's options and its ``--config`` keys."""

    def grouping(self) -> GroupingConfig:
        return GroupingConfig(**{name: getattr(self, name) for name in GroupingConfig.model_fields})

    def read_policy(self) -> ReadPolicy:
        return ReadPolicy(**{name: getattr(self, name) for name in ReadPolicy.model_fields})
