"""The fake served model of `test_api.py` (two versions scoring fare / 100), for every test here."""

from tests.unit.serving.http.test_api import served  # noqa: F401 - a fixture, shared
