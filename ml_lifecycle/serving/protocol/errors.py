"""TF Serving's refusals: a status other than 200 with the body `{"error": message}`."""

from __future__ import annotations


class ApiError(Exception):
    """An answer other than 200, with TF Serving's `{"error": message}` body."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def json_type(value: object) -> str:
    """A JSON value as an error message names it ("the string 'ten'", "a list")."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return f"the number {value!r}"
    if isinstance(value, str):
        return f"the string {value[:40]!r}"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__
