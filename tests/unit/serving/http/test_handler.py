"""Request limits, without a socket: what a request's headers declare decides 411, 400 or 413."""

from __future__ import annotations

import pytest

from ml_lifecycle.serving.http.handler import BodyTooLargeError, declared_length
from ml_lifecycle.serving.protocol.errors import ApiError


def test_a_declared_length_within_the_limit_is_read():
    assert declared_length({"Content-Length": "12"}, limit=100) == 12
    assert declared_length({"Content-Length": "100"}, limit=100) == 100
    assert declared_length({}, limit=100) is None  # no body


@pytest.mark.parametrize(
    "headers, status, message",
    [
        ({"Transfer-Encoding": "chunked"}, 411, "chunked request bodies are not supported"),
        ({"Content-Length": "12", "Transfer-Encoding": "Chunked"}, 411, "send Content-Length"),
        ({"Content-Length": "-3"}, 400, "invalid Content-Length '-3'"),
        ({"Content-Length": "ten"}, 400, "invalid Content-Length"),
        ({"Content-Length": "²"}, 400, "invalid Content-Length '²'"),  # str.isdigit says yes
        ({"Content-Length": "101"}, 413, "request body of 101 bytes is over the limit of 100 bytes"),
    ],
)
def test_requests_breaking_the_limits_are_refused(headers, status, message):
    with pytest.raises(ApiError) as refused:
        declared_length(headers, limit=100)
    assert refused.value.status == status and message in refused.value.message


def test_an_oversized_body_says_how_much_is_coming_so_it_can_be_drained():
    with pytest.raises(BodyTooLargeError) as refused:
        declared_length({"Content-Length": "250"}, limit=100)
    assert refused.value.length == 250
