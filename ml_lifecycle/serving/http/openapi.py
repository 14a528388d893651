"""The OpenAPI 3.1 documents served at `GET /openapi.json`: every route of the serving port, and
of the admin listener on the admin listener.

TF Serving's REST API has no machine-readable description; this one follows its documented
shapes (https://www.tensorflow.org/tfx/serving/api_rest). Bodies are described by their top-level
keys; rows and columns are free-form objects keyed by feature name.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from typing import Literal

import orjson

from ml_lifecycle.base.contracts import ServerPath
from ml_lifecycle.serving.http.api import HttpResponse

_ERROR = {"type": "object", "properties": {"error": {"type": "string"}}, "required": ["error"]}
_ANY_OBJECT = {"type": "object", "additionalProperties": True}
_VERSION_FORMS = {
    "": "the stable version (or the rollout's route: canary, blue/green)",
    "/versions/{version}": "one version by number (ASCII digits)",
    "/labels/{label}": "one version by label (stable, canary, shadow, blue, green, or a configured one)",
}
_PARAMETERS = {
    "model_name": {"name": "model_name", "in": "path", "required": True, "schema": {"type": "string"}},
    "version": {
        "name": "version",
        "in": "path",
        "required": True,
        "schema": {"type": "string", "pattern": "^[0-9]+$"},
    },
    "label": {"name": "label", "in": "path", "required": True, "schema": {"type": "string"}},
}
_METHOD_BODIES = {
    "predict": (
        "Scores rows (`instances`) or columns (`inputs`), TF Serving's predict API.",
        {"signature_name": {"type": "string"}, "instances": {"type": "array"}, "inputs": _ANY_OBJECT},
        {"predictions": {}, "outputs": {}},
    ),
    "classify": (
        "Classifies examples (binary and multiclass models), TF Serving's classify API.",
        {"signature_name": {"type": "string"}, "context": _ANY_OBJECT, "examples": {"type": "array"}},
        {"result": {"type": "array"}},
    ),
    "regress": (
        "Regresses examples (regression models), TF Serving's regress API.",
        {"signature_name": {"type": "string"}, "context": _ANY_OBJECT, "examples": {"type": "array"}},
        {"result": {"type": "array"}},
    ),
}


def _parameters(path: str) -> list[dict]:
    return [spec for name, spec in _PARAMETERS.items() if "{" + name + "}" in path]


def _answers(ok: dict, *errors: int) -> dict:
    answers = {"200": {"description": "OK", "content": {"application/json": {"schema": ok}}}}
    for status in errors:
        answers[str(status)] = {
            "description": "refused, the message names the field or row at fault",
            "content": {"application/json": {"schema": _ERROR}},
        }
    return answers


def _serving_paths() -> dict:
    paths: dict[str, dict] = {}
    for suffix, which in _VERSION_FORMS.items():
        base = "/v1/models/{model_name}" + suffix
        paths[base] = {
            "get": {
                "summary": f"Model status: {which}",
                "parameters": _parameters(base),
                "responses": _answers({"type": "object", "required": ["model_version_status"]}, 400, 404),
            }
        }
        paths[base + "/metadata"] = {
            "get": {
                "summary": f"Model metadata (signatures): {which}",
                "parameters": _parameters(base),
                "responses": _answers({"type": "object", "required": ["model_spec", "metadata"]}, 400, 404),
            }
        }
        for verb, (summary, request, answer) in _METHOD_BODIES.items():
            paths[f"{base}:{verb}"] = {
                "post": {
                    "summary": f"{summary} Version: {which}.",
                    "parameters": _parameters(base),
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/json": {"schema": {"type": "object", "properties": request}}
                        },
                    },
                    "responses": _answers({"type": "object", "properties": answer}, 400, 404, 408, 413, 503),
                }
            }
    paths[ServerPath.METRICS.value] = {
        "get": {
            "summary": "Prometheus text exposition of every worker's metrics, aggregated",
            "responses": {
                "200": {"description": "OK", "content": {"text/plain": {"schema": {"type": "string"}}}}
            },
        }
    }
    paths[ServerPath.ALERTS.value] = {
        "get": {
            "summary": "The configured alerts that are firing",
            "responses": _answers({"type": "object", "required": ["alerts"]}),
        }
    }
    return paths


def _admin_paths() -> dict:
    path = ServerPath.ADMIN_ROLLOUT.value.format(model="{model_name}")
    state = {"type": "object", "required": ["model", "state", "labels", "available"]}
    return {
        path: {
            "get": {
                "summary": "The rollout state, its labels and the versions available",
                "parameters": _parameters(path),
                "security": [{"bearer": []}],
                "responses": _answers(state, 401, 403, 404),
            },
            "post": {
                "summary": "One rollout change: stable, canary, promote, rollback, shadow, shadow_off, "
                "blue_green, switch",
                "parameters": _parameters(path),
                "security": [{"bearer": []}],
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "required": ["action"],
                                "properties": {
                                    "action": {"type": "string"},
                                    "version": {"type": "integer"},
                                    "fraction": {"type": "number"},
                                    "blue": {"type": "integer"},
                                    "green": {"type": "integer"},
                                    "color": {"type": "string"},
                                },
                            }
                        }
                    },
                },
                "responses": _answers(state, 400, 401, 403, 404, 415),
            },
        }
    }


def _document_paths(kind: Literal["serving", "admin"]) -> dict:
    paths = _serving_paths() if kind == "serving" else _admin_paths()
    paths[ServerPath.OPENAPI.value] = {
        "get": {"summary": "This document", "responses": {"200": {"description": "OK"}}}
    }
    return paths


@cache
def openapi_document(kind: Literal["serving", "admin"]) -> bytes:
    title = "ml-lifecycle model server" if kind == "serving" else "ml-lifecycle model server: admin"
    document = {
        "openapi": "3.1.0",
        "info": {"title": title, "version": "1"},
        "paths": _document_paths(kind),
    }
    if kind == "admin":
        document["components"] = {"securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}}}
    return orjson.dumps(document)


def openapi_route(kind: Literal["serving", "admin"]) -> dict[tuple[str, str], Callable[[], HttpResponse]]:
    """The `(GET, /openapi.json)` route for `AsgiAdapter.extra_routes`."""
    return {("GET", ServerPath.OPENAPI.value): lambda: HttpResponse(200, openapi_document(kind))}
