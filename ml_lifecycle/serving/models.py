"""Model versions as TF Serving serves them: found in the Pusher's directory, loaded, warmed up.

`<serving_root>/<model>/<version>/` holds one SavedModel per pushed version. A version is loaded
once with `tf.saved_model.load`, warmed up with the requests the model check stamped into
`assets.extra/tf_serving_warmup_requests` (both signatures, whose answers must agree), and only
then becomes AVAILABLE. A version that fails to load or warm up ends in state END with the error,
and whatever served before keeps serving. States and their names follow TF Serving's
`ModelVersionStatus`.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import tensorflow as tf
from google.protobuf import json_format
from tensorflow.core.protobuf import saved_model_pb2
from tensorflow_serving.apis import prediction_log_pb2

from ml_lifecycle.components.model_check.core import ModelCheckError, replay
from ml_lifecycle.config.serving import VersionPolicyConfig

log = logging.getLogger(__name__)

WARMUP_FILE = Path("assets.extra") / "tf_serving_warmup_requests"
EXAMPLES_SIGNATURE = "serving_default"
# The Trainer's raw-feature signature (models/model.py RAW_SIGNATURE); JSON rows map onto it.
RAW_SIGNATURE = "serving_raw"
# Scores of the two signatures on the same warmup rows may differ by float rounding only.
SIGNATURE_AGREEMENT_TOLERANCE = 1e-4
_MODEL_NAME = re.compile(r"^[A-Za-z0-9_.-]+$")


class ModelNameError(ValueError):
    """A model name that is not a plain directory name under the serving root."""


class VersionNotAvailableError(LookupError):
    """The model has no such version, or it is not AVAILABLE."""


def validate_model_name(name: str) -> str:
    """Model names are single path components: letters, digits, '_', '.', '-', never '.' or '..'."""
    if not _MODEL_NAME.match(name) or set(name) == {"."}:
        raise ModelNameError(
            f"invalid model name {name!r}: expected letters, digits, '_', '.' or '-', not a path"
        )
    return name


@dataclass(frozen=True)
class InputSpec:
    name: str
    dtype: np.dtype

    @property
    def fill_value(self) -> object:
        """What an absent tf.Example feature becomes in the Transform graph (`fill_in_missing`)."""
        return b"" if self.dtype == np.object_ else self.dtype.type(0)


@dataclass(frozen=True)
class SignatureInfo:
    name: str
    inputs: dict[str, InputSpec]
    outputs: list[str]


class ServableVersion:
    """One loaded SavedModel version; `run` is safe to call from many threads at once."""

    def __init__(self, model_name: str, version: int, path: Path) -> None:
        self.model_name = model_name
        self.version = version
        self.path = path
        self._loaded = tf.saved_model.load(str(path))
        self._functions = dict(self._loaded.signatures)
        self.signatures = {name: _signature_info(name, fn) for name, fn in self._functions.items()}
        self.signature_def_json = _signature_def_json(path)

    def run(self, signature_name: str, columns: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        function = self._functions[signature_name]
        outputs = function(**{name: tf.constant(value) for name, value in columns.items()})
        return {name: tensor.numpy() for name, tensor in outputs.items()}

    def function(self, signature_name: str):
        return self._functions[signature_name]


def _signature_info(name: str, function) -> SignatureInfo:
    _, input_specs = function.structured_input_signature
    inputs = {
        key: InputSpec(
            key, np.dtype(object) if spec.dtype == tf.string else np.dtype(spec.dtype.as_numpy_dtype)
        )
        for key, spec in sorted(input_specs.items())
    }
    return SignatureInfo(name, inputs, sorted(function.structured_outputs))


def _signature_def_json(path: Path) -> dict:
    """The SignatureDefMap as TF Serving's metadata endpoint prints it (proto field names)."""
    saved_model = saved_model_pb2.SavedModel.FromString((path / "saved_model.pb").read_bytes())
    signature_defs = saved_model.meta_graphs[0].signature_def
    return {
        name: json_format.MessageToDict(signature_def, preserving_proto_field_name=True)
        for name, signature_def in signature_defs.items()
    }


def read_warmup_requests(path: Path) -> list[prediction_log_pb2.PredictionLog]:
    warmup_file = path / WARMUP_FILE
    if not warmup_file.exists():
        return []
    records = tf.data.TFRecordDataset(str(warmup_file)).as_numpy_iterator()
    return [prediction_log_pb2.PredictionLog.FromString(record) for record in records]


def example_rows(
    serialized_examples: Iterable[bytes], names: Iterable[str] | None = None
) -> list[dict[str, object]]:
    """Serialized tf.Examples as rows of raw values, strings as str. With `names`, exactly those
    features (None where absent); without, the features each example holds."""
    rows = []
    for serialized in serialized_examples:
        features = tf.train.Example.FromString(serialized).features.feature
        row: dict[str, object] = {}
        for name in features if names is None else names:
            feature = features.get(name)
            value = None
            if feature is not None:
                kind = feature.WhichOneof("kind")
                values = getattr(feature, kind).value if kind else []
                if values:
                    value = values[0].decode("utf-8", "replace") if kind == "bytes_list" else values[0]
            row[name] = value
        rows.append(row)
    return rows


def rows_to_columns(rows: list[dict[str, object]], inputs: dict[str, InputSpec]) -> dict[str, np.ndarray]:
    """Rows of raw values (None = missing) as the raw signature's dense columns, missing -> fill value."""
    columns = {}
    for name, spec in inputs.items():
        values = [row.get(name) for row in rows]
        filled = [spec.fill_value if value is None else value for value in values]
        if spec.dtype == np.object_:
            filled = [value.encode() if isinstance(value, str) else value for value in filled]
        columns[name] = np.array(filled, dtype=spec.dtype)
    return columns


def warm_up(servable: ServableVersion, logs: list[prediction_log_pb2.PredictionLog]) -> int:
    """Replays the pushed warmup requests; then the same rows through the raw-feature signature,
    whose scores must match the serialized-example signature's. Returns the number of requests."""
    predict_logs = [entry for entry in logs if entry.HasField("predict_log")]
    replayed = 0
    for signature_name in sorted(
        {entry.predict_log.request.model_spec.signature_name for entry in predict_logs}
    ):
        name = signature_name or EXAMPLES_SIGNATURE
        if name not in servable.signatures:
            raise ModelCheckError(f"warmup requests name signature {name!r}, which the model does not have")
        batch = [e for e in predict_logs if (e.predict_log.request.model_spec.signature_name or name) == name]
        replayed += replay(servable.function(name), batch).requests
    raw = servable.signatures.get(RAW_SIGNATURE)
    if raw is None or not predict_logs:
        return replayed
    examples = [
        bytes(value)
        for entry in predict_logs
        for value in tf.make_ndarray(next(iter(entry.predict_log.request.inputs.values()))).tolist()
    ]
    # The warmup file repeats its examples (single rows, then all of them as one batch).
    examples = list(dict.fromkeys(examples))
    columns = rows_to_columns(example_rows(examples, raw.inputs), raw.inputs)
    raw_scores = servable.run(RAW_SIGNATURE, columns)
    for index in range(min(len(examples), 8)):
        servable.run(RAW_SIGNATURE, {k: v[index : index + 1] for k, v in columns.items()})
    example_scores = servable.run(EXAMPLES_SIGNATURE, {"examples": np.array(examples, dtype=object)})
    for key, expected in example_scores.items():
        got = raw_scores.get(key)
        if got is None or got.shape != expected.shape:
            raise ModelCheckError(
                f"signature {RAW_SIGNATURE!r} output {key!r} differs in shape from {EXAMPLES_SIGNATURE!r}"
            )
        worst = float(np.max(np.abs(got - expected))) if expected.size else 0.0
        if worst > SIGNATURE_AGREEMENT_TOLERANCE:
            raise ModelCheckError(
                f"signatures {RAW_SIGNATURE!r} and {EXAMPLES_SIGNATURE!r} disagree on the warmup rows "
                f"(max |difference| {worst:.6f} on output {key!r})"
            )
    return replayed + 2 + min(len(examples), 8)


def load_version(model_name: str, version: int, path: Path) -> ServableVersion:
    servable = ServableVersion(model_name, version, path)
    warm_up(servable, read_warmup_requests(path))
    return servable


def select_versions(on_disk: Iterable[int], policy: VersionPolicyConfig) -> list[int]:
    """The versions TF Serving's `model_version_policy` would serve, newest first."""
    versions = sorted(set(on_disk), reverse=True)
    if policy.kind == "latest":
        return versions[: policy.num_versions]
    if policy.kind == "specific":
        return [v for v in versions if v in set(policy.versions)]
    return versions


def version_directories(base_path: Path) -> dict[int, Path]:
    """Numeric subdirectories holding a saved_model.pb (TF Serving ignores anything else)."""
    if not base_path.is_dir():
        return {}
    return {
        int(child.name): child
        for child in base_path.iterdir()
        if child.name.isdigit() and (child / "saved_model.pb").is_file()
    }


def _directory_fingerprint(path: Path) -> tuple[int, int, float]:
    """Files, bytes and newest mtime: unchanged across two scans means the push has finished
    (the Pusher copies files into place; it does not rename a finished directory)."""
    count, size, newest = 0, 0, 0.0
    for child in path.rglob("*"):
        if child.is_file():
            stat = child.stat()
            count, size, newest = count + 1, size + stat.st_size, max(newest, stat.st_mtime)
    return count, size, newest


@dataclass
class VersionRecord:
    version: int
    path: Path
    state: str = "START"
    error_message: str = ""
    servable: ServableVersion | None = None
    loaded_s: float | None = None
    load_seconds: float | None = None


@dataclass
class ModelRepository:
    """The versions of one model: which to load (policy + pinned), their states, the loaded ones.

    `poll()` does the loading in the caller's thread; the server calls it from a watcher thread,
    so requests keep being served by the versions already AVAILABLE while a new one loads.
    """

    name: str
    base_path: Path
    policy: VersionPolicyConfig
    loader: Callable[[str, int, Path], ServableVersion] = load_version
    records: dict[int, VersionRecord] = field(default_factory=dict)
    _pinned: frozenset[int] = frozenset()
    _pending: dict[int, tuple[int, int, float]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        validate_model_name(self.name)

    def pin(self, versions: Iterable[int | None]) -> None:
        """Versions the rollout state refers to stay loaded even when the policy would drop them."""
        self._pinned = frozenset(v for v in versions if v is not None)

    def poll(self, wait_for_stable_files: bool = True) -> list[int]:
        """Loads versions the policy (or a pin) wants and unloads the others; returns those that
        became AVAILABLE in this call."""
        on_disk = version_directories(self.base_path)
        wanted = set(select_versions(on_disk, self.policy)) | (self._pinned & set(on_disk))
        newly_available = []
        for version in sorted(wanted):
            with self._lock:
                record = self.records.get(version)
            # A failed version is not retried (TF Serving does not either); an unloaded one is.
            if record is not None and (record.state == "AVAILABLE" or record.error_message):
                continue
            path = on_disk[version]
            if wait_for_stable_files and not self._files_settled(version, path):
                continue
            if self._load(version, path):
                newly_available.append(version)
        self._unload(set(on_disk), wanted)
        return newly_available

    def _files_settled(self, version: int, path: Path) -> bool:
        fingerprint = _directory_fingerprint(path)
        previous = self._pending.get(version)
        self._pending[version] = fingerprint
        return previous == fingerprint

    def _load(self, version: int, path: Path) -> bool:
        record = VersionRecord(version, path, state="LOADING")
        with self._lock:
            self.records[version] = record
        started = time.perf_counter()
        try:
            servable = self.loader(self.name, version, path)
        except Exception as error:  # noqa: BLE001 - any load/warmup failure marks the version, never the server
            log.error("model %s version %d failed to load or warm up: %s", self.name, version, error)
            with self._lock:
                record.state, record.error_message = "END", f"{type(error).__name__}: {error}"
            return False
        with self._lock:
            record.servable, record.state = servable, "AVAILABLE"
            record.loaded_s, record.load_seconds = time.time(), time.perf_counter() - started
        log.info("model %s version %d AVAILABLE (%.1f s)", self.name, version, record.load_seconds)
        return True

    def _unload(self, on_disk: set[int], wanted: set[int]) -> None:
        with self._lock:
            for version, record in list(self.records.items()):
                if version in wanted:
                    continue
                if record.state == "AVAILABLE":
                    # In-flight requests hold their own reference; dropping ours never cuts them off.
                    record.servable, record.state = None, "END"
                if version not in on_disk:
                    del self.records[version]

    def servable(self, version: int) -> ServableVersion:
        with self._lock:
            record = self.records.get(version)
        if record is None or record.servable is None:
            state = "not found" if record is None else f"in state {record.state}"
            detail = f": {record.error_message}" if record is not None and record.error_message else ""
            raise VersionNotAvailableError(f"model {self.name!r} version {version} is {state}{detail}")
        return record.servable

    def available(self) -> list[int]:
        with self._lock:
            return sorted(v for v, r in self.records.items() if r.state == "AVAILABLE")

    def statuses(self) -> list[VersionRecord]:
        with self._lock:
            return [self.records[v] for v in sorted(self.records, reverse=True)]
