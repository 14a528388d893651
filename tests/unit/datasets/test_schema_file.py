"""Reading a schema file: a missing, malformed or non-UTF-8 file is a DataError naming the path."""

from __future__ import annotations

import re

import pytest

from ml_lifecycle.datasets.schema_file import SchemaLoadError, read_schema


def test_a_schema_file_reads_as_a_schema_proto(tmp_path):
    path = tmp_path / "schema.pbtxt"
    path.write_text('feature { name: "fare" type: FLOAT }\n')

    assert [feature.name for feature in read_schema(path).feature] == ["fare"]


@pytest.mark.parametrize(
    ("content", "detail"),
    [
        (None, "No such file"),
        (b"feature { name: ", "expected a text-format Schema proto"),
        (b'feature { name: "caf\xe9" }\n', "line 1: byte 0xe9 is not UTF-8"),
    ],
)
def test_unreadable_schema_names_the_file(tmp_path, content, detail):
    path = tmp_path / "schema.pbtxt"
    if content is not None:
        path.write_bytes(content)

    with pytest.raises(SchemaLoadError, match=rf"^{re.escape(str(path))}: cannot read the schema.*{detail}"):
        read_schema(path)
