"""Request limits, without a socket: what a request's headers declare decides 400 or 413."""

from __future__ import annotations

import pytest

from ml_lifecycle.serving.http.limits import BodyTooLargeError, declared_length
from ml_lifecycle.serving.protocol.errors import ApiError


def test_a_declared_length_within_the_limit_is_read():
    assert declared_length({"content-length": "12"}, limit=100) == 12
    assert declared_length({"content-length": "100"}, limit=100) == 100
    assert declared_length({}, limit=100) is None  # no body
    # Chunked: no length up front; the ASGI layer counts what arrives.
    assert declared_length({"transfer-encoding": "chunked"}, limit=100) is None


@pytest.mark.parametrize(
    "headers, status, message",
    [
        ({"content-length": "-3"}, 400, "invalid Content-Length '-3'"),
        ({"content-length": "ten"}, 400, "invalid Content-Length"),
        ({"content-length": "²"}, 400, "invalid Content-Length '²'"),  # str.isdigit says yes
        ({"content-length": "101"}, 413, "request body of 101 bytes is over the limit of 100 bytes"),
    ],
)
def test_requests_breaking_the_limits_are_refused(headers, status, message):
    with pytest.raises(ApiError) as refused:
        declared_length(headers, limit=100)
    assert refused.value.status == status and message in refused.value.message


def test_an_oversized_body_says_how_much_is_coming_so_it_can_be_drained():
    with pytest.raises(BodyTooLargeError) as refused:
        declared_length({"content-length": "250"}, limit=100)
    assert refused.value.length == 250
