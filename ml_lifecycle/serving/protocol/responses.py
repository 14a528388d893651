"""Response bodies in TF Serving's REST shapes (tensorflow_serving/g3doc/api_rest.md):
predictions/outputs, classify and regress results, version status, metadata. Pure: values in,
JSON-ready values out (`http.api` serializes them).

Classify answers `{"result": [[[label, score], ...], ...]}`: per example, every class with its
score, in class-index order (binary: "0" and "1"; multiclass: the order of the description's
classes), not sorted by score. Regress answers `{"result": [value, ...]}`, one value per example.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ml_lifecycle.serving.inference.answers import ModelAnswer
from ml_lifecycle.serving.inference.repository import VersionRecord
from ml_lifecycle.serving.inference.servable import ServableVersion
from ml_lifecycle.serving.protocol.errors import ApiError
from ml_lifecycle.serving.protocol.requests import parse_version


def predict_response(outputs: dict[str, np.ndarray], row_format: bool, review: dict | None) -> dict:
    """`{"predictions": ...}` for a row-format request, `{"outputs": ...}` for a columnar one."""
    return _with_review(
        {"predictions" if row_format else "outputs": _single_or_dict(outputs, row_format)}, review
    )


# TF Serving's key for classify and regress answers (singular: `results` is not read by its clients).
RESULT_KEY = "result"


def classify_response(answer: ModelAnswer, review: dict | None) -> dict:
    return _with_review({RESULT_KEY: classification_results(answer)}, review)


def regress_response(answer: ModelAnswer, review: dict | None) -> dict:
    return _with_review({RESULT_KEY: regression_results(answer)}, review)


def _with_review(body: dict[str, object], review: dict | None) -> dict[str, object]:
    if review is not None:
        # Not in TF Serving's shape: clients that do not know the key ignore it.
        body["review"] = review
    return body


def _single_or_dict(outputs: dict[str, np.ndarray], row_format: bool) -> object:
    """TF Serving: a signature with one output (the scoring signatures) answers its values alone;
    one with several (`transform_features`) a dict per row (row format) or per output (columnar)."""
    if len(outputs) == 1:
        return next(iter(outputs.values()))
    if not row_format:
        return outputs
    rows = len(next(iter(outputs.values())))
    return [{name: values[row] for name, values in outputs.items()} for row in range(rows)]


def classification_results(answer: ModelAnswer) -> list:
    """TF Serving's classify result: per example, [label, score] for each class, in class-index
    order."""
    labels = answer.classes
    return [
        [[label, score] for label, score in zip(labels, row, strict=True)]
        for row in answer.class_scores().tolist()
    ]


def regression_results(answer: ModelAnswer) -> list[float]:
    """TF Serving's regress result: one value per example."""
    return answer.values[:, 0].tolist()


def status_json(
    model: str,
    records: Sequence[VersionRecord],
    labels: dict[str, int],
    version_text: str | None,
    label: str | None,
) -> dict:
    """`{"model_version_status": [...]}` for every version, or the one a URL names."""
    if version_text is not None or label is not None:
        wanted = parse_version(version_text) if version_text is not None else labels.get(label)
        if wanted is None:
            raise ApiError(404, f"Unrecognized servable version label: {label}")
        records = [r for r in records if r.version == wanted]
        if not records:
            raise ApiError(404, f"Could not find version {wanted} of model {model}")
    if not records:
        raise ApiError(404, f"Could not find any versions of model {model}")
    return {
        "model_version_status": [
            {
                "version": str(record.version),
                "state": record.state,
                "status": {
                    "error_code": "UNKNOWN" if record.error_message else "OK",
                    "error_message": record.error_message,
                },
            }
            for record in records
        ]
    }


def metadata_json(name: str, servable: ServableVersion) -> dict:
    return {
        "model_spec": {"name": name, "signature_name": "", "version": str(servable.version)},
        "metadata": {"signature_def": {"signature_def": servable.signature_def_json}},
    }
