"""Reading a schema.pbtxt: the one reader for curated schemas and Schema artifacts alike.

Light on purpose (protobuf only, no TFDV import), so the model server can use it.
"""

from __future__ import annotations

from pathlib import Path

from google.protobuf import text_format
from tensorflow_metadata.proto.v0 import schema_pb2

from ml_lifecycle.base.contracts import Task
from ml_lifecycle.base.errors import ConfigError, DataError
from ml_lifecycle.base.text import where_not_utf8
from ml_lifecycle.config.dataset import DatasetConfig


class SchemaLoadError(DataError):
    """A schema file is missing or is not a text-format Schema proto."""


def read_schema(path: str | Path) -> schema_pb2.Schema:
    """Parses a text-format schema; a missing or malformed file names the path."""
    path = Path(path)
    try:
        return text_format.Parse(path.read_text(encoding="utf-8"), schema_pb2.Schema())
    except UnicodeDecodeError as error:
        raise SchemaLoadError(f"{path}: cannot read the schema: {where_not_utf8(path)}") from error
    except OSError as error:
        raise SchemaLoadError(f"{path}: cannot read the schema file: {error.strerror or error}") from error
    except text_format.ParseError as error:
        raise SchemaLoadError(
            f"{path}: cannot read the schema (expected a text-format Schema proto): {error}"
        ) from error


def record_label_classes(schema: schema_pb2.Schema, label: str, classes: list[str]) -> None:
    """Records a multiclass label's classes as the schema's string domain named after the label
    (replacing one TFDV inferred under that name)."""
    for index, domain in enumerate(schema.string_domain):
        if domain.name == label:
            del schema.string_domain[index]
            break
    domain = schema.string_domain.add()
    domain.name = label
    domain.value.extend(classes)


def label_classes(schema: schema_pb2.Schema, label: str) -> tuple[str, ...]:
    """A multiclass label's classes, in score order, as `lifecycle schema bootstrap` recorded them."""
    for domain in schema.string_domain:
        if domain.name == label:
            return tuple(domain.value)
    return ()


def known_label_classes(dataset: DatasetConfig) -> tuple[str, ...]:
    """A multiclass dataset's classes in score order: `label.classes`, else those `lifecycle schema
    bootstrap` recorded in the curated schema; () when neither is there yet or the label is not
    multiclass. Both given and different is a ConfigError (the schema's domain is what TFDV checks,
    the YAML's order the model's score order)."""
    label = dataset.label
    if label.task is not Task.MULTICLASS:
        return ()
    schema_path = dataset.resolve_schema()
    recorded = ()
    if schema_path is not None and schema_path.exists():
        recorded = label_classes(read_schema(schema_path), label.name)
    if label.classes:
        if recorded and tuple(label.classes) != recorded:
            raise ConfigError(
                f"label.classes {list(label.classes)} differ from the classes the schema {schema_path} "
                f"records {list(recorded)}; make them the same list (or run `lifecycle schema bootstrap` "
                "again)"
            )
        return tuple(label.classes)
    return recorded
