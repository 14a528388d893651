"""One signature call for a decoded request; a refusal by the model is the client's error."""

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
