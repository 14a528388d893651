"""`lifecycle run` on bad input: a clear message naming span, file, line and feature; exit 2;
nothing written to the metadata store or the serving directory."""

from __future__ import annotations

import pytest

from ml_lifecycle.cli.main import EXIT_BAD_INPUT, main
from tests.cli.conftest import GOOD_ROW, HEADER


@pytest.fixture
def work(make_project):
    """A work dir whose span 1 holds two good rows; tests break it in one way each."""
    return make_project(span=1, rows=2)


def _run(work, capsys, *args):
    code = main(["--config", str(work / "lifecycle.yaml"), "run", *args])
    return code, capsys.readouterr().err


def _nothing_written(work):
    assert not (work / "work" / "metadata.sqlite").exists()
    assert not (work / "work" / "serving").exists()


def test_missing_span(work, capsys):
    code, err = _run(work, capsys, "--span", "7")
    assert code == EXIT_BAD_INPUT
    assert "span 7: no files match" in err and "span-7/*.csv" in err
    _nothing_written(work)


def test_empty_span(work, capsys):
    (work / "work/data/taxi/span-1/data.csv").write_text(f"{HEADER}\n")
    code, err = _run(work, capsys, "--span", "1")
    assert code == EXIT_BAD_INPUT
    assert "span 1:" in err and "header but no data rows" in err
    _nothing_written(work)


def test_malformed_row(work, capsys):
    (work / "work/data/taxi/span-1/data.csv").write_text(f"{HEADER}\n{GOOD_ROW}\n1.5,7.25\n")
    code, err = _run(work, capsys, "--span", "1")
    assert code == EXIT_BAD_INPUT
    assert "data.csv:3: malformed row, expected 16 fields, found 2" in err
    _nothing_written(work)


def test_missing_column(work, capsys):
    header = HEADER.replace(",company", "")
    row = GOOD_ROW.replace(",Flash Cab", "")
    (work / "work/data/taxi/span-1/data.csv").write_text(f"{header}\n{row}\n")
    code, err = _run(work, capsys, "--span", "1")
    assert code == EXIT_BAD_INPUT
    assert "missing column(s) ['company']" in err
    _nothing_written(work)


def test_wrong_type(work, capsys):
    (work / "work/data/taxi/span-1/data.csv").write_text(
        f"{HEADER}\n{GOOD_ROW}\n{GOOD_ROW.replace('7.25', 'seven')}\n"
    )
    code, err = _run(work, capsys, "--span", "1")
    assert code == EXIT_BAD_INPUT
    assert "data.csv:3: feature 'fare' expected a number, got 'seven'" in err
    _nothing_written(work)


def test_bad_span_range(work, capsys):
    code, err = _run(work, capsys, "--spans", "3:1")
    assert code == EXIT_BAD_INPUT
    assert "--spans '3:1'" in err


def test_an_unreachable_mysql_store_exits_2_before_writing(work, monkeypatch, capsys):
    import socket

    import yaml

    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    monkeypatch.setenv("LIFECYCLE_MYSQL_PASSWORD", "pw")
    project = yaml.safe_load((work / "lifecycle.yaml").read_text())
    project["metadata"] = {
        "kind": "mysql",
        "host": "127.0.0.1",
        "port": port,
        "database": "mlmd",
        "user": "team",
    }
    (work / "lifecycle.yaml").write_text(yaml.safe_dump(project))

    code, err = _run(work, capsys, "--span", "1")

    assert code == EXIT_BAD_INPUT
    assert f"mysql://team@127.0.0.1:{port}/mlmd: cannot reach the MySQL server" in err
    assert "Traceback" not in err
    assert not (work / "work" / "pipelines").exists()
    assert not (work / "work" / "serving").exists()
