"""What prediction logs and the review queue keep of each input feature (`serving.privacy`).

keep: the value as sent; drop: the feature is never written; hash: the hex HMAC-SHA256 of the
value's text, keyed by the secret in `serving.privacy_key_env`, so equal values still match
across records (joins, counts) while the clear value is never written.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass, field


@dataclass(frozen=True)
class FeaturePrivacy:
    """A per-feature policy; features it does not name are kept."""

    policy: Mapping[str, str] = field(default_factory=dict)
    key: bytes = b""

    def __post_init__(self) -> None:
        if any(kind == "hash" for kind in self.policy.values()) and not self.key:
            raise ValueError("a hashed feature needs a non-empty key")

    def hash_value(self, value: object) -> str:
        text = value.decode("utf-8", "surrogateescape") if isinstance(value, bytes) else str(value)
        return hmac.new(self.key, text.encode("utf-8", "surrogateescape"), hashlib.sha256).hexdigest()

    def apply_row(self, row: Mapping[str, object]) -> dict[str, object]:
        """The row as it may be written: dropped features left out, hashed ones replaced."""
        out: dict[str, object] = {}
        for name, value in row.items():
            kind = self.policy.get(name, "keep")
            if kind == "keep":
                out[name] = value
            elif kind == "hash":
                out[name] = None if value is None else self.hash_value(value)
        return out
