"""One signature call for a decoded request, and the score it answers per row."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import tensorflow as tf

from ml_lifecycle.serving.inference.servable import ServableVersion

# Runs one signature on dense columns: straight (`direct_predictor`) or through the batcher.
Predictor = Callable[[ServableVersion, str, dict[str, np.ndarray]], dict[str, np.ndarray]]


class ModelInputError(ValueError):
    """The model refused the input: the client's fault (a bad serialized example, say), not the server's."""


def direct_predictor(servable: ServableVersion, signature: str, columns: dict[str, np.ndarray]):
    return servable.run(signature, columns)


def infer(
    predictor: Predictor, servable: ServableVersion, signature: str, columns: dict[str, np.ndarray]
) -> dict[str, np.ndarray]:
    """The signature's outputs; a refusal by the model is a `ModelInputError`."""
    try:
        return predictor(servable, signature, columns)
    except (tf.errors.InvalidArgumentError, ValueError, TypeError) as error:
        # Bad serialized examples (or values the decoder's checks let through) are the client's.
        message = getattr(error, "message", None) or str(error)
        raise ModelInputError(f"the model rejected the input: {message.splitlines()[0]}") from error


def scores_of(outputs: dict[str, np.ndarray]) -> np.ndarray:
    """The positive-class probability per row (first output's first column)."""
    values = outputs.get("outputs", next(iter(outputs.values())))
    values = np.asarray(values, dtype=np.float64)
    return values.reshape(len(values), -1)[:, 0] if values.ndim else values.reshape(1)
