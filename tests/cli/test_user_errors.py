"""User-input errors at the command line: exit 2 and one `error: ...` line naming the file, field
or URL, never a traceback (bad config text, a bad span origin or drift threshold, a non-UTF-8
source or span, a malformed schema, a server URL without a scheme, a non-JSON answer)."""

from __future__ import annotations

import http.server
import re
import socketserver
import threading

import pytest

from ml_lifecycle.cli.main import EXIT_BAD_INPUT, main
from ml_lifecycle.cli.serve_commands import ServerAnswerError, http_json
from tests.cli.conftest import GOOD_ROW, HEADER


@pytest.fixture
def project(make_project):
    """A project in tmp_path whose span 1 holds two good rows."""
    return make_project(span=1, rows=2)


def _error_line(project, capsys, *args) -> str:
    """Runs `lifecycle --config <project>/lifecycle.yaml ARGS`; checks exit code 2 and returns the
    one `error: ...` line stderr holds (there is no traceback)."""
    code = main(["--config", str(project / "lifecycle.yaml"), *args])
    err = capsys.readouterr().err
    assert code == EXIT_BAD_INPUT, err
    lines = [line for line in err.splitlines() if line.startswith("error: ")]
    assert len(lines) == 1, err
    assert "Traceback" not in err
    return lines[0]


def _edit_dataset(project, old: str, new: str) -> None:
    path = project / "datasets" / "taxi.yaml"
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new))


def test_non_utf8_project_yaml(project, capsys):
    path = project / "lifecycle.yaml"
    path.write_bytes(path.read_bytes() + b"# caf\xe9\n")
    line = _error_line(project, capsys, "runs")
    assert str(path) in line and "is not UTF-8" in line


@pytest.mark.parametrize(
    ("old", "new", "command", "expected"),
    [
        (
            'origin: "2013-01-01"',
            'origin: "the first quarter"',
            ("data", "prepare"),
            "spans.origin: Value error, expected a date such as '2013-01-01', got 'the first quarter'",
        ),
        (
            "schema: ",
            "drift:\n  numeric_jensen_shannon: 1.5\nschema: ",
            ("schema", "bootstrap"),
            "drift.numeric_jensen_shannon: Value error, numeric_jensen_shannon must be in (0, 1]",
        ),
    ],
)
def test_a_bad_dataset_value_is_named_at_load(project, capsys, old, new, command, expected):
    _edit_dataset(project, old, new)
    line = _error_line(project, capsys, *command)
    assert f"{project / 'datasets' / 'taxi.yaml'}: {expected}" in line


def test_non_utf8_source_csv(project, capsys):
    _edit_dataset(project, "pkg://tfx/examples/chicago_taxi_pipeline/data/simple/data.csv", "source.csv")
    source = project / "datasets" / "source.csv"
    source.write_bytes(b"trip_start_timestamp,fare\n1357000000,caf\xe9\n")
    line = _error_line(project, capsys, "data", "prepare")
    assert str(source) in line and "line 2: byte 0xe9 is not UTF-8" in line


def test_non_utf8_span_file(project, capsys):
    span_file = project / "work/data/taxi/span-1/data.csv"
    span_file.write_bytes(
        f"{HEADER}\n{GOOD_ROW}\n".encode() + GOOD_ROW.replace("Cash", "Ca\xf1").encode("latin-1")
    )
    line = _error_line(project, capsys, "run", "--span", "1")
    assert f"span 1: {span_file}: line 3: byte 0xf1 is not UTF-8" in line
    assert not (project / "work" / "metadata.sqlite").exists()


def test_malformed_schema_for_serve(project, capsys, monkeypatch):
    from ml_lifecycle.serving.http import server

    # Were the schema accepted, `serve` would block: fail instead of serving.
    monkeypatch.setattr(server.ModelServer, "start", lambda self, *a, **k: pytest.fail("the server started"))
    schema = project / "schemas" / "taxi" / "schema.pbtxt"
    schema.write_text("feature { name: ")
    line = _error_line(project, capsys, "serve", "--port", "0")
    assert str(schema) in line and "cannot read the schema" in line


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("localhost:8501", "localhost:8501/v1/admin/models/taxi/rollout: not a server URL"),
        ("http://localhost:85o1", "nonnumeric port"),
    ],
)
def test_rollout_with_a_malformed_url(project, capsys, url, expected):
    line = _error_line(project, capsys, "rollout", "--url", url, "status")
    assert expected in line and "expected http://HOST:PORT" in line


@pytest.fixture
def local_server():
    """Factory: local_server(status, body) -> the URL of an HTTP server on 127.0.0.1 (an
    ephemeral port) that answers every request with `status` and `body`."""
    servers = []

    def start(status: int, body: bytes) -> str:
        class Handler(http.server.BaseHTTPRequestHandler):
            def _answer(self):
                self.send_response(status)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = _answer

            def log_message(self, *args):
                pass

        server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        servers.append((server, thread))
        return f"http://127.0.0.1:{server.server_address[1]}"

    yield start
    for server, thread in servers:
        server.shutdown()
        server.server_close()
        thread.join()


def test_alerts_from_a_server_that_does_not_answer_json(project, capsys, local_server):
    url = local_server(200, b"<html>hello</html>")
    line = _error_line(project, capsys, "alerts", "--url", url)
    assert f"GET {url}/v1/alerts: expected a JSON object, got b'<html>" in line


def test_a_json_answer_that_is_not_an_object_is_a_server_answer_error(local_server):
    url = local_server(200, b"[1, 2]")
    with pytest.raises(
        ServerAnswerError, match=re.escape(f"GET {url}/x: expected a JSON object, got b'[1, 2]'")
    ):
        http_json("GET", url + "/x", timeout=5)


def test_a_refusal_without_a_json_message_names_the_status(local_server):
    url = local_server(404, b'["not", "an", "object"]')
    with pytest.raises(ServerAnswerError, match=re.escape(f"POST {url}/x: HTTP 404: Not Found")):
        http_json("POST", url + "/x", {"action": "promote"}, timeout=5)


def test_a_program_that_does_not_speak_http_is_a_server_answer_error():
    class Greeter(socketserver.BaseRequestHandler):
        def handle(self):
            self.request.recv(1024)
            self.request.sendall(b"SSH-2.0-OpenSSH_8.9\r\n")

    with socketserver.TCPServer(("127.0.0.1", 0), Greeter) as server:
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        url = f"http://127.0.0.1:{server.server_address[1]}/v1/alerts"
        try:
            with pytest.raises(ServerAnswerError, match=re.escape(f"GET {url}: the answer is not HTTP")):
                http_json("GET", url, timeout=5)
        finally:
            server.shutdown()
            thread.join()
