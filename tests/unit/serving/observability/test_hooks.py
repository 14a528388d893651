"""The hooks' collaborator Protocols match, signature for signature, the classes the server plugs in."""

from __future__ import annotations

import inspect
import typing

import pytest

from ml_lifecycle.serving.http.api import ServingServices
from ml_lifecycle.serving.observability.hooks import (
    Collaborators,
    MonitorSink,
    PredictionLogSink,
    ReviewSink,
)
from ml_lifecycle.serving.observability.monitor import Monitor
from ml_lifecycle.serving.observability.prediction_log import PredictionLogWriter
from ml_lifecycle.serving.review import ReviewQueue


def _call_shape(function: typing.Callable) -> tuple:
    """What a caller relies on: parameter names, kinds and types, which have defaults, the result."""
    signature = inspect.signature(function, eval_str=True)
    parameters = [
        (p.name, p.kind, p.annotation, p.default is not inspect.Parameter.empty)
        for p in signature.parameters.values()
    ]
    return parameters, signature.return_annotation


@pytest.mark.parametrize(
    "protocol, implementation",
    [(MonitorSink, Monitor), (PredictionLogSink, PredictionLogWriter), (ReviewSink, ReviewQueue)],
)
def test_each_collaborator_protocol_matches_its_implementation(protocol, implementation):
    # typing.Protocol adds dunder functions of its own (__init__, __subclasshook__).
    methods = [
        name
        for name, value in vars(protocol).items()
        if inspect.isfunction(value) and not name.startswith("__")
    ]
    assert methods
    for name in methods:
        assert _call_shape(getattr(implementation, name)) == _call_shape(getattr(protocol, name)), name


def test_the_services_hold_what_the_hooks_read():
    services = typing.get_type_hints(ServingServices)
    for name, hint in typing.get_type_hints(Collaborators).items():
        assert services[name] == hint, name
