"""One signature call for a decoded request; a refusal by the model is the client's error, a model
call with no answer within the deadline is the server's (`ModelCallTimeoutError`, HTTP 503)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import tensorflow as tf

from ml_lifecycle.base.errors import LifecycleError
from ml_lifecycle.serving.inference.servable import ServableVersion

# Runs one signature on dense columns: straight (`direct_predictor`) or through the batcher.
Predictor = Callable[[ServableVersion, str, dict[str, np.ndarray]], dict[str, np.ndarray]]


class ModelInputError(ValueError):
    """The model refused the input: the client's fault (a bad serialized example, say), not the server's."""


class ModelCallTimeoutError(LifecycleError):
    """A request got no answer from its model call within `serving.request_timeout_ms`: the
    server's fault (a stuck or overloaded model), answered 503. Raised by the batcher."""

    def __init__(self, model: str, version: int, signature: str, timeout_s: float, reason: str = "") -> None:
        self.model, self.version, self.signature, self.timeout_s = model, version, signature, timeout_s
        message = (
            f"model {model!r} version {version} signature {signature!r}: no answer within the "
            f"{timeout_s * 1000:g} ms deadline (serving.request_timeout_ms)"
        )
        super().__init__(f"{message}; {reason}" if reason else message)


def direct_predictor(servable: ServableVersion, signature: str, columns: dict[str, np.ndarray]):
    """The model call on the caller's thread, without the batcher. It has no deadline and cannot
    be interrupted: a server using it must bound the wait itself (the HTTP layer's own deadline),
    and a model call that never returns keeps the caller's thread for good."""
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
