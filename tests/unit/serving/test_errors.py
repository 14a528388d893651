"""Errors a user can act on derive from LifecycleError (the CLI exits 2 on those), and keep the
builtin base callers catch them by."""

from __future__ import annotations

import pytest

from ml_lifecycle.base.errors import LifecycleError
from ml_lifecycle.serving.inference.repository import ModelNameError, VersionNotAvailableError
from ml_lifecycle.serving.review import (
    InvalidLabelError,
    NothingToExportError,
    ReviewItemNotFoundError,
    SpanExistsError,
)
from ml_lifecycle.serving.router import NoVersionToServeError, RolloutError


@pytest.mark.parametrize(
    "error, builtin",
    [
        (RolloutError, ValueError),
        (NoVersionToServeError, LookupError),
        (ReviewItemNotFoundError, ValueError),
        (InvalidLabelError, ValueError),
        (NothingToExportError, ValueError),
        (SpanExistsError, ValueError),
        (ModelNameError, ValueError),
        (VersionNotAvailableError, LookupError),
    ],
)
def test_user_facing_serving_errors_are_lifecycle_errors(error, builtin):
    assert issubclass(error, LifecycleError) and issubclass(error, builtin)
