"""What prediction logs and the review queue keep of each input feature (`serving.privacy`).

keep: the value as sent; drop: the feature is never written; hash: the hex HMAC-SHA256 of the
value's text, keyed by the secret in `serving.privacy_key_env`, so equal values still match
across records (joins, counts) while the clear value is never written.

A value hashes the same whichever way it came (a JSON row, a column, a tf.Example): text as its
UTF-8, integers as their decimal, and floats (a float feature's JSON integer too) as the
shortest decimal of their float32, the value the model and a tf.Example hold (41.9, 7.0). A
missing value stays missing. A hashed feature is text wherever it is written (a DT_STRING
tensor, a tf.Example bytes_list), so a log's hashed float column no longer replays as model
input; a dropped one is absent.

The key is never logged or put in a message, and is left out of the repr.
"""

from __future__ import annotations

import hmac
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

import numpy as np
from google.protobuf.message import DecodeError
from tensorflow.core.example import example_pb2

from ml_lifecycle.base.errors import ConfigError
from ml_lifecycle.config.serving import ServingConfig
from ml_lifecycle.serving.inference.codec import feature_values, float32_value

# The dtype kind ("f", "i", "O") requests record per column (`DecodedRequest.kinds`).
_FLOAT_KIND = "f"
_TEXT_KIND = "O"


@dataclass(frozen=True)
class FeaturePrivacy:
    """A per-feature policy; features it does not name are kept."""

    policy: Mapping[str, str] = field(default_factory=dict)
    key: bytes = field(default=b"", repr=False)

    def __post_init__(self) -> None:
        unknown = sorted({kind for kind in self.policy.values()} - {"drop", "hash", "keep"})
        if unknown:
            raise ValueError(f"privacy policy kinds {unknown}: expected drop, hash or keep")
        if self.hashed and not self.key:
            raise ValueError("a hashed feature needs a non-empty key")

    @property
    def hashed(self) -> list[str]:
        return sorted(name for name, kind in self.policy.items() if kind == "hash")

    @property
    def dropped(self) -> list[str]:
        return sorted(name for name, kind in self.policy.items() if kind == "drop")

    def hash_value(self, value: object, kind: str | None = None) -> str:
        """The hex HMAC-SHA256 of the value's text (see the module docstring); `kind` is the
        column's dtype kind when known, so a float feature's JSON 7 hashes as its 7.0."""
        text = value_text(value, kind)
        return hmac.digest(self.key, text.encode("utf-8", "surrogateescape"), "sha256").hex()

    def unknown_features(self, columns: Iterable[str]) -> list[str]:
        """Policy features that are none of `columns`: most likely a typo that leaves the
        feature meant in the clear."""
        return sorted(set(self.policy) - set(columns))

    def apply_row(
        self, row: Mapping[str, object], kinds: Mapping[str, str] | None = None
    ) -> dict[str, object]:
        """The row as it may be written: dropped features left out, hashed ones replaced."""
        out: dict[str, object] = {}
        for name, value in row.items():
            kind = self.policy.get(name, "keep")
            if kind == "keep":
                out[name] = value
            elif kind == "hash":
                out[name] = self._hashed(value, kinds.get(name) if kinds else None)
        return out

    def apply_columns(
        self, columns: Mapping[str, list], kinds: Mapping[str, str] | None = None
    ) -> dict[str, list]:
        """Columnar values (one list per feature, None for missing) as they may be written."""
        out: dict[str, list] = {}
        for name, values in columns.items():
            kind = self.policy.get(name, "keep")
            if kind == "keep":
                out[name] = values
            elif kind == "hash":
                column_kind = kinds.get(name) if kinds else None
                out[name] = [self._hashed(value, column_kind) for value in values]
        return out

    def column_kinds(self, kinds: Mapping[str, str]) -> dict[str, str]:
        """The dtype kinds of `apply_columns`' result: a hashed feature is text, a dropped one gone."""
        out: dict[str, str] = {}
        for name, column_kind in kinds.items():
            kind = self.policy.get(name, "keep")
            if kind != "drop":
                out[name] = _TEXT_KIND if kind == "hash" else column_kind
        return out

    def apply_examples(self, examples: Iterable[bytes]) -> list[bytes]:
        """Serialized tf.Examples as they may be written: dropped features deleted, hashed ones a
        bytes_list of their values' HMACs (a missing value b""). Every example is re-serialized,
        unknown fields discarded, so no other copy of a value survives in the bytes (a map key
        sent twice parses as its last copy). Bytes that do not parse are written as an empty
        tf.Example: what is in them cannot be vouched for."""
        out: list[bytes] = []
        for serialized in examples:
            try:
                example = example_pb2.Example.FromString(bytes(serialized))
            except DecodeError:
                out.append(b"")
                continue
            example.DiscardUnknownFields()
            features = example.features.feature
            for name, kind in self.policy.items():
                if kind == "keep" or name not in features:
                    continue
                if kind == "drop":
                    del features[name]
                    continue
                feature = features[name]
                digests = [
                    b"" if _missing(v) else self.hash_value(v).encode("ascii")
                    for v in feature_values(feature)
                ]
                feature.Clear()
                feature.bytes_list.value.extend(digests)
            out.append(example.SerializeToString())
        return out

    def _hashed(self, value: object, kind: str | None) -> object:
        if isinstance(value, (list, tuple)):  # a multi-valued tf.Example feature's cell
            return [None if _missing(v) else self.hash_value(v, kind) for v in value]
        return None if _missing(value) else self.hash_value(value, kind)


def value_text(value: object, kind: str | None = None) -> str:
    """The text a value is hashed as (see the module docstring)."""
    if isinstance(value, bytes):
        return value.decode("utf-8", "surrogateescape")
    if isinstance(value, str):
        return value
    if isinstance(value, (bool, np.bool_)):
        return str(bool(value))
    if isinstance(value, (float, np.floating)) or (
        kind == _FLOAT_KIND and isinstance(value, (int, np.integer))
    ):
        return str(float32_value(float(value)))
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    return str(value)


def _missing(value: object) -> bool:
    """Missing as a row holds it: None, an empty text, a NaN (a tf.Example's missing float)."""
    if value is None or value == "" or value == b"":
        return True
    return isinstance(value, (float, np.floating)) and math.isnan(value)


def feature_privacy(config: ServingConfig, environ: Mapping[str, str]) -> FeaturePrivacy | None:
    """`serving.privacy` as the hooks apply it; None when every feature is kept (nothing to do).

    A hashed feature needs its key: the environment variable `serving.privacy_key_env` unset or
    empty is a ConfigError, and the server does not start.
    """
    policy = {name: kind for name, kind in config.privacy.items() if kind != "keep"}
    if not policy:
        return None
    hashed = sorted(name for name, kind in policy.items() if kind == "hash")
    key = b""
    if hashed:
        variable = config.privacy_key_env
        if not variable:
            raise ConfigError(
                f"serving.privacy hashes {hashed}, but serving.privacy_key_env is empty: name the "
                "environment variable that holds the HMAC key"
            )
        secret = environ.get(variable, "")
        if not secret:
            state = "empty" if variable in environ else "unset"
            raise ConfigError(
                f"serving.privacy hashes {hashed}: the HMAC key comes from the environment variable "
                f"{variable} (serving.privacy_key_env), which is {state}; "
                "set it to a secret (the same one on every server whose hashes should match), or "
                "drop or keep those features"
            )
        key = secret.encode("utf-8")
    return FeaturePrivacy(policy, key)
