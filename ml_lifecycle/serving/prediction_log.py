"""Prediction logs: every sampled request/response as a TF Serving `PredictionLog` record.

TF Serving's open-source build has no request logger (tensorflow/serving#408); this one writes
the records its logging protos describe, so tools that read TF Serving logs (and its warmup
format) read ours. Files are TFRecord, partitioned by the hour of the request in UTC:

    <directory>/<YYYY-MM-DD>/<HH>/predictions-<YYYYMMDDTHHMMSS.ffffff>-<pid>-<seq>.tfrecord

A request thread only samples and enqueues (`submit` never blocks and never raises); one
background thread converts and writes. A full queue drops the record and counts it; a write
error (full disk, permission, a file where a directory should be) loses the record, is counted
and is logged once per kind of error.

Where the server's extra facts go: `PredictionLog` has no latency or routing field, and
`LogMetadata.model_spec.version_label` means "the label the client asked for", which the route
is not (a `stable` request may be routed to the canary). `LogMetadata.request_origin` is a free
string TF Serving itself leaves empty, so it carries both as a URL query string,
`route=canary&latency_ms=3.125` (`log_annotations()` parses it back), and
`sampling_config.sampling_rate` records the rate in force, so counts can be re-weighted.
"""

from __future__ import annotations

import logging
import math
import os
import queue
import random
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, urlencode

import numpy as np
from tensorflow.core.example import example_pb2
from tensorflow.core.framework import tensor_pb2, types_pb2
from tensorflow_serving.apis import prediction_log_pb2

from ml_lifecycle.config.serving import PredictionLogConfig

_LOG = logging.getLogger(__name__)
_STOP = object()
FILE_SUFFIX = ".tfrecord"


@dataclass(frozen=True)
class LoggedPrediction:
    """One answered request as the server saw it.

    `inputs` is columnar: feature name -> one value per row (raw features from JSON), or
    {"examples": [serialized tf.Example bytes, ...]} for the tf.Example signature / classify.
    `outputs` is columnar too ({"outputs": [[0.8], ...]}, nested lists or numpy arrays), or for
    classify TF Serving's REST shape {"results": [[[label, score], ...], ...]}.
    """

    model: str
    version: int
    signature_name: str
    method: str  # "predict" | "classify"
    inputs: dict[str, list]
    outputs: dict[str, list | np.ndarray]
    route: str
    latency_ms: float
    time_s: float


class PredictionLogWriter:
    """Samples, queues and writes `LoggedPrediction`s as PredictionLog TFRecords (see module doc)."""

    def __init__(
        self, config: PredictionLogConfig, directory: Path, *, rng: random.Random | None = None
    ) -> None:
        self._config = config
        self._directory = Path(directory)
        self._rng = rng or random.Random()
        self._queue: queue.Queue = queue.Queue(maxsize=config.max_queue)
        self._lock = threading.Lock()
        self._counts = {"written": 0, "sampled_out": 0, "dropped": 0, "errors": 0}
        self._error_kinds_logged: set[str] = set()
        self._closed = False
        # Writer-thread state only.
        self._file = None
        self._file_partition: tuple[str, str] | None = None
        self._unflushed = 0
        self._file_sequence = 0
        self._thread = threading.Thread(target=self._run, name="prediction-log-writer", daemon=True)
        self._thread.start()

    # -- request side -------------------------------------------------------------------------

    def submit(self, record: LoggedPrediction) -> None:
        """Samples and enqueues `record`; never blocks, never raises."""
        try:
            if not self._config.enabled:
                return
            if self._config.sample_rate < 1.0 and self._rng.random() >= self._config.sample_rate:
                self._count("sampled_out")
                return
            if self._closed:
                self._count("dropped")
                return
            self._queue.put_nowait(record)
        except queue.Full:
            self._count("dropped")
        except Exception:  # a request must never fail because of its log record
            _LOG.exception("prediction log: could not enqueue a record")
            self._count("dropped")

    def stats(self) -> dict[str, int]:
        """Records written, sampled out, dropped (queue full or closed) and lost to write errors."""
        with self._lock:
            return dict(self._counts)

    def close(self, timeout: float = 5.0) -> None:
        """Writes what is queued (for up to `timeout` seconds), then closes the current file."""
        if self._closed:
            return
        self._closed = True
        deadline = time.monotonic() + timeout
        try:
            self._queue.put(_STOP, timeout=max(timeout, 0.0))
        except queue.Full:
            _LOG.warning("prediction log: queue still full after %.1f s; closing anyway", timeout)
        self._thread.join(max(deadline - time.monotonic(), 0.0))
        if self._thread.is_alive():
            _LOG.warning(
                "prediction log: writer still busy after %.1f s; unwritten records are lost", timeout
            )

    def __enter__(self) -> PredictionLogWriter:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def _count(self, key: str, amount: int = 1) -> None:
        with self._lock:
            self._counts[key] += amount

    # -- writer thread ------------------------------------------------------------------------

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is _STOP:
                break
            self._write(item)
            # Flush whenever the queue runs dry: readers see records within one idle moment,
            # and a burst is written with one flush.
            if self._queue.empty():
                self._flush()
        self._close_file()

    def _write(self, record: LoggedPrediction) -> None:
        try:
            serialized = to_prediction_log(record, self._config.sample_rate).SerializeToString()
        except Exception as error:  # a malformed record is the caller's bug: count, log once
            self._error(error, records=1, action="convert")
            return
        partition = hour_partition(record.time_s)
        try:
            if self._file is None or partition != self._file_partition:
                self._close_file()
                self._open_file(partition, record.time_s)
            self._file.write(serialized)
            self._unflushed += 1
        except Exception as error:
            self._error(error, records=1 + self._unflushed, action="write")
            self._unflushed = 0
            self._abandon_file()

    def _open_file(self, partition: tuple[str, str], time_s: float) -> None:
        import tensorflow as tf  # already loaded by the server; imported here to keep it local

        folder = self._directory / partition[0] / partition[1]
        folder.mkdir(parents=True, exist_ok=True)
        stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime(time_s)) + f".{int(time_s % 1 * 1e6):06d}"
        self._file_sequence += 1
        path = folder / f"predictions-{stamp}-{os.getpid()}-{self._file_sequence:04d}{FILE_SUFFIX}"
        self._file = self._open_writer(str(path), tf)
        self._file_partition = partition

    def _open_writer(self, path: str, tf):
        """Separate so a test can point the writer at a device that fails (e.g. /dev/full)."""
        return tf.io.TFRecordWriter(path)

    def _flush(self) -> None:
        if self._file is None or not self._unflushed:
            return
        try:
            self._file.flush()
        except Exception as error:
            self._error(error, records=self._unflushed, action="flush")
            self._unflushed = 0
            self._abandon_file()
            return
        self._count("written", self._unflushed)
        self._unflushed = 0

    def _close_file(self) -> None:
        if self._file is None:
            return
        self._flush()
        if self._file is None:  # the flush failed and abandoned it
            return
        try:
            self._file.close()
        except Exception as error:
            self._error(error, records=0, action="close")
        self._file = None
        self._file_partition = None

    def _abandon_file(self) -> None:
        """After an error the next record starts a fresh file rather than appending to a bad one."""
        if self._file is not None:
            try:
                self._file.close()
            except Exception:  # already counted the error that got us here
                pass
        self._file = None
        self._file_partition = None

    def _error(self, error: Exception, records: int, action: str) -> None:
        self._count("errors", records)
        kind = f"{action}:{type(error).__name__}"
        if kind not in self._error_kinds_logged:
            self._error_kinds_logged.add(kind)
            _LOG.error(
                "prediction log: cannot %s under %s (%s: %s); records are counted as errors, "
                "requests are unaffected; further errors of this kind are not logged",
                action,
                self._directory,
                type(error).__name__,
                error,
            )


def hour_partition(time_s: float) -> tuple[str, str]:
    """('YYYY-MM-DD', 'HH') of a Unix time, in UTC."""
    moment = time.gmtime(time_s)
    return time.strftime("%Y-%m-%d", moment), time.strftime("%H", moment)


# -- conversion -------------------------------------------------------------------------------


def to_prediction_log(record: LoggedPrediction, sample_rate: float = 1.0) -> prediction_log_pb2.PredictionLog:
    """The PredictionLog for one record (predict_log or classify_log)."""
    log = prediction_log_pb2.PredictionLog()
    metadata = log.log_metadata
    _fill_model_spec(metadata.model_spec, record)
    metadata.timestamp_secs = int(record.time_s)
    metadata.sampling_config.sampling_rate = sample_rate
    metadata.request_origin = urlencode({"route": record.route, "latency_ms": f"{record.latency_ms:.3f}"})
    if record.method == "predict":
        _fill_model_spec(log.predict_log.request.model_spec, record)
        _fill_model_spec(log.predict_log.response.model_spec, record)
        for name, values in record.inputs.items():
            _fill_tensor(log.predict_log.request.inputs[name], values)
        for name, values in record.outputs.items():
            _fill_tensor(log.predict_log.response.outputs[name], values)
    elif record.method == "classify":
        request, response = log.classify_log.request, log.classify_log.response
        _fill_model_spec(request.model_spec, record)
        _fill_model_spec(response.model_spec, record)
        for example in record.inputs.get("examples", []):
            request.input.example_list.examples.add().ParseFromString(bytes(example))
        for row in record.outputs.get("results", []):
            classifications = response.result.classifications.add()
            for label, score in row:
                classifications.classes.add(label=str(label), score=float(score))
    else:
        raise ValueError(f"method {record.method!r}: expected 'predict' or 'classify'")
    return log


def _fill_model_spec(spec, record: LoggedPrediction) -> None:
    spec.name = record.model
    spec.version.value = int(record.version)
    spec.signature_name = record.signature_name


def log_annotations(log: prediction_log_pb2.PredictionLog) -> tuple[str, float | None]:
    """(route, latency in ms) stored in `log_metadata.request_origin` by this writer."""
    fields = parse_qs(log.log_metadata.request_origin)
    route = fields.get("route", [""])[0]
    latency = fields.get("latency_ms", [None])[0]
    return route, float(latency) if latency is not None else None


def tensor_proto(values: list) -> tensor_pb2.TensorProto:
    """A TensorProto of a rectangular nested list (or numpy array).

    Types: text/bytes -> DT_STRING (None -> b""); booleans -> DT_BOOL; integers -> DT_INT64;
    any float -> DT_FLOAT, the dtype of the exported signatures' raw numeric inputs. A missing
    value (None) in a numeric column is NaN, which makes an integer column DT_FLOAT: a
    TensorProto has no null, and NaN reads back as missing (`rows_from_prediction_logs`).
    """
    proto = tensor_pb2.TensorProto()
    _fill_tensor(proto, values)
    return proto


_INTEGER_TYPES = (int, np.integer)
_TEXT_TYPES = (str, bytes)


def _fill_tensor(proto: tensor_pb2.TensorProto, values) -> None:
    # Filled in place (no CopyFrom): the writer thread converts every record, and each copy of
    # a request's tensors costs GIL time the request threads want.
    if type(values) is list and _fill_flat_column(proto, values):
        return
    if _fill_homogeneous(proto, values):
        return
    shape, leaves = _shape_and_leaves(values)
    for size in shape:
        proto.tensor_shape.dim.add(size=size)
    kinds = {type(v) for v in leaves}
    if any(issubclass(kind, _TEXT_TYPES) for kind in kinds):
        proto.dtype = types_pb2.DT_STRING
        proto.string_val.extend(
            v if isinstance(v, bytes) else b"" if v is None else str(v).encode("utf-8") for v in leaves
        )
    elif kinds and all(issubclass(kind, (bool, np.bool_)) for kind in kinds):
        proto.dtype = types_pb2.DT_BOOL
        proto.bool_val.extend(bool(v) for v in leaves)
    elif kinds and all(issubclass(kind, _INTEGER_TYPES) and kind is not bool for kind in kinds):
        proto.dtype = types_pb2.DT_INT64
        proto.int64_val.extend(int(v) for v in leaves)
    else:
        proto.dtype = types_pb2.DT_FLOAT
        proto.float_val.extend(math.nan if v is None else float(v) for v in leaves)


_NONE = type(None)
_NUMBERS = frozenset({int, float, _NONE})
_TEXT = frozenset({str, _NONE})
_INTS = frozenset({int})
_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1


def _fill_flat_column(proto: tensor_pb2.TensorProto, values: list) -> bool:
    """A request column as the server logs it: a flat list of JSON scalars with None for missing.
    Same tensor as the general path, typed from the set of value types instead of value by value
    (measured on a 256-row x 15-feature record with missing values: 0.8 ms -> 0.2 ms)."""
    if not values:
        return False
    kinds = set(map(type, values))
    if kinds == _INTS:
        if not _INT64_MIN <= min(values) <= max(values) <= _INT64_MAX:
            return False  # the other paths decide what an out-of-range integer becomes
        proto.dtype = types_pb2.DT_INT64
        proto.int64_val.extend(values)
    elif kinds <= _NUMBERS:
        proto.dtype = types_pb2.DT_FLOAT
        # None becomes NaN in a float64 array (as float(v) would round).
        _extend_floats(proto, np.array(values, dtype=np.float64))
    elif kinds <= _TEXT:
        proto.dtype = types_pb2.DT_STRING
        proto.string_val.extend([b"" if v is None else v.encode("utf-8") for v in values])
    else:
        return False
    proto.tensor_shape.dim.add(size=len(values))
    return True


_FLOAT_VAL_TAG = b"\x2a"  # TensorProto.float_val: field 5, length-delimited (packed)


def _extend_floats(proto: tensor_pb2.TensorProto, array: np.ndarray) -> None:
    """`proto.float_val.extend(array.tolist())` without a Python float per value: the packed
    field's wire bytes (little-endian float32) are merged in, the same proto and serialization."""
    if array.dtype == np.float32:
        payload = array.astype("<f4").tobytes()
    else:
        with np.errstate(over="ignore"):  # beyond float32's range is inf, as protobuf rounds it
            payload = array.astype("<f4").tobytes()
    proto.MergeFromString(_FLOAT_VAL_TAG + _varint(len(payload)) + payload)


def _varint(value: int) -> bytes:
    out = bytearray()
    while value > 0x7F:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def _fill_homogeneous(proto: tensor_pb2.TensorProto, values) -> bool:
    """The common case at C speed: a rectangular column of one numeric or text type, no None.
    Measured on a 256-row x 15-feature record (convert + serialize): 1.17 ms value by value in
    Python, 0.43 ms this way."""
    try:
        array = values if isinstance(values, np.ndarray) else np.asarray(values)
    except ValueError:  # ragged: the general path names the problem
        return False
    kind = array.dtype.kind
    # "S" (bytes) is left to the general path: numpy strips trailing NUL bytes, which a
    # serialized tf.Example may end with.
    if kind not in "fiub" and kind != "U":
        return False
    for size in array.shape:
        proto.tensor_shape.dim.add(size=size)
    if kind == "f":
        proto.dtype = types_pb2.DT_FLOAT
        _extend_floats(proto, array.ravel())
        return True
    flat = array.ravel().tolist()
    if kind in "iu":
        proto.dtype = types_pb2.DT_INT64
        proto.int64_val.extend(flat)
    elif kind == "b":
        proto.dtype = types_pb2.DT_BOOL
        proto.bool_val.extend(flat)
    else:
        proto.dtype = types_pb2.DT_STRING
        proto.string_val.extend([text.encode("utf-8") for text in flat])
    return True


def _shape_and_leaves(values) -> tuple[list[int], list]:
    if isinstance(values, np.ndarray):
        return list(values.shape), values.ravel().tolist()
    if not isinstance(values, (list, tuple)):
        return [], [values]
    if not values:
        return [0], []
    if not any(isinstance(v, (list, tuple, np.ndarray)) for v in values):
        return [len(values)], list(values)
    shapes_and_leaves = [_shape_and_leaves(v) for v in values]
    inner = shapes_and_leaves[0][0]
    if any(shape != inner for shape, _ in shapes_and_leaves):
        raise ValueError("ragged values cannot be logged as a tensor")
    return [len(values)] + inner, [leaf for _, leaves in shapes_and_leaves for leaf in leaves]


def tensor_values(proto: tensor_pb2.TensorProto) -> list:
    """The nested list a `tensor_proto()` was built from: text decoded, float32 rounding undone."""
    import tensorflow as tf

    array = tf.make_ndarray(proto)
    if array.dtype == np.float32:
        # float32 holds 41.9 as 41.900001525...; its shortest repr is what the client sent.
        return _map_nested(array.tolist(), lambda v: float(str(np.float32(v))))
    if array.dtype == object:
        return _map_nested(array.tolist(), _decode)
    return array.tolist()


def _map_nested(values, function):
    if isinstance(values, list):
        return [_map_nested(v, function) for v in values]
    return function(values)


def _decode(value: bytes) -> str | bytes:
    try:
        return value.decode("utf-8")
    except UnicodeDecodeError:
        return value


# -- reading ----------------------------------------------------------------------------------


def prediction_log_files(directory: Path) -> list[Path]:
    """Every log file under `directory`, oldest hour first, then by the time each file started."""
    return sorted(
        Path(directory).glob(f"*/*/*{FILE_SUFFIX}"),
        key=lambda p: (p.parent.parent.name, p.parent.name, p.name),
    )


def read_prediction_logs(directory: Path) -> Iterator[prediction_log_pb2.PredictionLog]:
    """Every record under `directory`, in time order. A file still being written may end in a
    partial record: reading stops there, with a warning, and goes on with the next file."""
    import tensorflow as tf

    for path in prediction_log_files(directory):
        records = iter(tf.data.TFRecordDataset(str(path)))
        while True:
            try:
                raw = next(records)
            except StopIteration:
                break
            except tf.errors.DataLossError as error:
                _LOG.warning("prediction log %s: truncated record skipped (%s)", path, error.message)
                break
            yield prediction_log_pb2.PredictionLog.FromString(raw.numpy())


def rows_from_prediction_logs(
    logs: Iterable[prediction_log_pb2.PredictionLog], model: str | None = None
) -> Iterator[dict[str, object]]:
    """Raw feature rows of logged requests (None where a value was missing), ready to be
    labelled and written as a span: columnar predict inputs are cut into rows, tf.Examples
    (classify, or a predict input called `examples`) are parsed. Shadow copies are skipped
    (the live record of the same request holds the same inputs)."""
    for log in logs:
        if model is not None and log.log_metadata.model_spec.name != model:
            continue
        route, _ = log_annotations(log)
        if route == "shadow":
            continue
        kind = log.WhichOneof("log_type")
        if kind == "classify_log":
            for example in log.classify_log.request.input.example_list.examples:
                yield example_row(example)
        elif kind == "predict_log":
            yield from _predict_rows(log.predict_log.request.inputs)


def _predict_rows(inputs) -> Iterator[dict[str, object]]:
    if set(inputs) == {"examples"} and inputs["examples"].dtype == types_pb2.DT_STRING:
        for serialized in inputs["examples"].string_val:
            yield example_row(example_pb2.Example.FromString(serialized))
        return
    columns = {name: tensor_values(proto) for name, proto in inputs.items()}
    count = max((len(values) for values in columns.values()), default=0)
    for index in range(count):
        yield {
            name: _scalar(values[index]) if index < len(values) else None for name, values in columns.items()
        }


def _scalar(value: object) -> object:
    """[x] -> x, [] / NaN / "" -> None (missing), as a span CSV cell would hold it."""
    while isinstance(value, list):
        if len(value) != 1:
            return value or None
        value = value[0]
    if isinstance(value, float) and math.isnan(value):
        return None
    if value == "" or value == b"":
        return None
    return value


def example_row(example: example_pb2.Example) -> dict[str, object]:
    row: dict[str, object] = {}
    for name, feature in example.features.feature.items():
        kind = feature.WhichOneof("kind")
        values = list(getattr(feature, kind).value) if kind else []
        if kind == "bytes_list":
            values = [_decode(v) for v in values]
        elif kind == "float_list":
            values = [float(str(np.float32(v))) for v in values]
        row[name] = _scalar(values)
    return row
