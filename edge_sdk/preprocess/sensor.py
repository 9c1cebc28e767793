"""Sensor scaling shared by training and serving: named channels, units, z-score normalisation."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from edge_sdk.errors import InputError

__all__ = ["SensorChannel", "SensorSpec", "scale_sensor"]


@dataclass(frozen=True)
class SensorChannel:
    """One sensor channel. ``mean``/``std`` come from the training split only."""

    name: str
    unit: str = ""
    mean: float = 0.0
    std: float = 1.0

    def __post_init__(self) -> None:
        if not self.std > 0:
            raise InputError(f"sensor channel {self.name!r}: std must be positive. Got: {self.std}")


@dataclass(frozen=True)
class SensorSpec:
    channels: tuple[SensorChannel, ...]

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.channels]

    def to_dict(self) -> dict[str, object]:
        return {
            "kind": "sensor",
            "channels": [{"name": c.name, "unit": c.unit, "mean": c.mean, "std": c.std} for c in self.channels],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, object]) -> SensorSpec:
        return cls(tuple(SensorChannel(**c) for c in data["channels"]))  # type: ignore[attr-defined]

    @classmethod
    def fit(cls, columns: Mapping[str, Sequence[float] | np.ndarray], units: Mapping[str, str] | None = None) -> SensorSpec:
        """Compute per-channel mean and std (population) from training values."""
        channels = []
        for name, values in columns.items():
            array = np.asarray(values, dtype=np.float64)
            if array.size == 0 or not np.all(np.isfinite(array)):
                raise InputError(f"sensor channel {name!r}: cannot fit on empty or non-finite values. Got: {array.size} values")
            std = float(array.std())
            channels.append(
                SensorChannel(name=name, unit=(units or {}).get(name, ""), mean=float(array.mean()), std=std if std > 0 else 1.0)
            )
        return cls(tuple(channels))


def scale_sensor(reading: Mapping[str, float], spec: SensorSpec) -> np.ndarray:
    """Normalised channel vector (float32, shape (channels,)) in the spec's channel order."""
    out = np.empty(len(spec.channels), dtype=np.float32)
    for i, channel in enumerate(spec.channels):
        try:
            value = float(reading[channel.name])
        except KeyError:
            raise InputError(
                f"sensor reading lacks channel {channel.name!r}. Expected: {spec.names}. Got: {sorted(reading)}"
            ) from None
        except (TypeError, ValueError):
            raise InputError(f"sensor channel {channel.name!r} must be a number. Got: {reading[channel.name]!r}") from None
        if not math.isfinite(value):
            raise InputError(f"sensor channel {channel.name!r} must be finite. Got: {value}")
        out[i] = (value - channel.mean) / channel.std
    return out
