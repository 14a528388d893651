"""The HTTP model server: standard-library HTTP/1.1 with keep-alive, a request batcher, the shadow
worker, and the watcher that loads new pushes and evaluates alerts.

`build_server(config)` wires everything from the project config; `ModelServer.start()` loads the
versions already pushed (synchronously, so the first request finds them warm), restores the
rollout state, then serves on a background thread until `stop()`.
"""

from __future__ import annotations

import gc
import logging
import queue
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np

from ml_lifecycle.config.serving import BatchingConfig, ServingConfig
from ml_lifecycle.serving.api import (
    FeatureRules,
    HttpResponse,
    ServedModel,
    ServingApi,
    ServingServices,
    ShadowJob,
    direct_predictor,
    error_response,
    logged_prediction,
    scores_of,
)
from ml_lifecycle.serving.models import (
    ModelRepository,
    ServableVersion,
    validate_model_name,
    version_directories,
)
from ml_lifecycle.serving.router import Router

log = logging.getLogger(__name__)

# Idle keep-alive connections are closed after this many seconds, so their threads end.
IDLE_CONNECTION_SECONDS = 30.0
# Oversized bodies up to this multiple of the limit are read and discarded so the client sees the 413.
OVERSIZE_DRAIN_FACTOR = 4


# -- batching ------------------------------------------------------------------------------------


@dataclass
class _Pending:
    columns: dict[str, np.ndarray]
    rows: int
    done: threading.Event = field(default_factory=threading.Event)
    lead: bool = False
    outputs: dict[str, np.ndarray] | None = None
    error: BaseException | None = None


@dataclass
class _Lane:
    waiting: list[_Pending] = field(default_factory=list)
    running: bool = False


class Batcher:
    """Merges concurrent calls on the same version and signature into one model call.

    No thread of its own: the first caller to find the lane idle runs a batch of everything
    waiting (up to `max_batch_rows`), the others wait; when a batch ends, leadership passes to the
    oldest waiting caller. With 2 cores and the GIL, one model call of 8 rows costs about what one
    call of 1 row costs, so merging is what lets concurrent single-row clients scale.
    """

    def __init__(self, config: BatchingConfig) -> None:
        self.max_batch_rows = config.max_batch_rows
        self.max_wait_s = config.max_wait_ms / 1000
        self._lock = threading.Lock()
        self._lanes: dict[tuple[int, str], _Lane] = {}
        self.batches = 0
        self.batched_calls = 0

    def predict(self, servable: ServableVersion, signature: str, columns: dict[str, np.ndarray]):
        rows = len(next(iter(columns.values())))
        if rows >= self.max_batch_rows:
            return servable.run(signature, columns)
        pending = _Pending(columns, rows)
        key = (id(servable), signature)
        with self._lock:
            lane = self._lanes.setdefault(key, _Lane())
            lane.waiting.append(pending)
            pending.lead = not lane.running
            lane.running = True
        if not pending.lead:
            pending.done.wait()
        if pending.lead:
            self._run_batch(lane, servable, signature)
        if pending.error is not None:
            raise pending.error
        return pending.outputs

    def _run_batch(self, lane: _Lane, servable: ServableVersion, signature: str) -> None:
        if self.max_wait_s > 0:
            deadline = time.perf_counter() + self.max_wait_s
            while time.perf_counter() < deadline and sum(p.rows for p in lane.waiting) < self.max_batch_rows:
                time.sleep(0.0001)
        with self._lock:
            batch, total = [], 0
            for pending in lane.waiting:
                if batch and total + pending.rows > self.max_batch_rows:
                    break
                batch.append(pending)
                total += pending.rows
            del lane.waiting[: len(batch)]
        try:
            self._run(batch, servable, signature)
        finally:
            with self._lock:
                self.batches += 1
                self.batched_calls += len(batch)
                if lane.waiting:
                    successor = lane.waiting[0]
                    successor.lead = True
                else:
                    successor = None
                    lane.running = False
            for pending in batch:
                pending.done.set()
            if successor is not None:
                successor.done.set()

    @staticmethod
    def _run(batch: list[_Pending], servable: ServableVersion, signature: str) -> None:
        if len(batch) == 1:
            try:
                batch[0].outputs = servable.run(signature, batch[0].columns)
            except BaseException as error:  # noqa: BLE001 - handed to the waiting caller, who raises it
                batch[0].error = error
            return
        merged = {name: np.concatenate([p.columns[name] for p in batch]) for name in batch[0].columns}
        try:
            outputs = servable.run(signature, merged)
        except Exception:  # noqa: BLE001 - one bad request must not fail the others: run each alone
            for pending in batch:
                Batcher._run([pending], servable, signature)
            return
        offset = 0
        for pending in batch:
            pending.outputs = {name: value[offset : offset + pending.rows] for name, value in outputs.items()}
            offset += pending.rows


# -- shadow --------------------------------------------------------------------------------------


class ShadowWorker:
    """Runs shadow copies after the live answers were sent: a bounded queue, drops counted.

    Compares each row with the live score (same class at 0.5; |difference|), feeds the monitor's
    agreement metrics, and logs the shadow answer with route "shadow". Never touches a response.
    """

    def __init__(self, models: dict[str, ServedModel], services: ServingServices, max_queue: int) -> None:
        self._models = models
        self._services = services
        self._queue: queue.Queue = queue.Queue(maxsize=max_queue)
        self.counts = {"submitted": 0, "done": 0, "dropped": 0, "errors": 0}
        self._counts_lock = threading.Lock()
        self._thread = threading.Thread(target=self._work, name="shadow-worker", daemon=True)
        self._stopping = threading.Event()

    def start(self) -> None:
        self._thread.start()

    def submit(self, job: ShadowJob) -> None:
        try:
            self._queue.put_nowait(job)
            self._count("submitted")
        except queue.Full:
            self._count("dropped")

    def _count(self, outcome: str) -> None:
        with self._counts_lock:
            self.counts[outcome] += 1

    def stop(self, timeout: float = 5.0) -> None:
        self._stopping.set()
        self._queue.put(None)
        self._thread.join(timeout)

    def _work(self) -> None:
        while True:
            job = self._queue.get()
            try:
                if job is None:
                    return
                self._shadow(job)
                self._count("done")
            except Exception as error:  # noqa: BLE001 - a shadow failure is counted, never raised
                self._count("errors")
                log.warning(
                    "shadow request to version %s failed: %s", getattr(job, "shadow_version", "?"), error
                )
            finally:
                self._queue.task_done()

    def _shadow(self, job: ShadowJob) -> None:
        served = self._models[job.model]
        servable = served.repository.servable(job.shadow_version)
        started = time.perf_counter()
        outputs = servable.run(job.request.signature, job.request.columns)
        latency_ms = (time.perf_counter() - started) * 1000
        scores = scores_of(outputs)
        monitor, prediction_log = self._services.monitor, self._services.prediction_log
        if monitor is not None:
            for live, shadow in zip(job.live_scores, scores, strict=True):
                monitor.record_shadow(
                    job.model,
                    job.live_version,
                    job.shadow_version,
                    (live >= 0.5) == (shadow >= 0.5),
                    abs(live - shadow),
                )
        if prediction_log is not None:
            prediction_log.submit(
                logged_prediction(
                    job.model,
                    job.shadow_version,
                    job.request,
                    outputs,
                    scores,
                    job.method,
                    "shadow",
                    latency_ms,
                )
            )


# -- HTTP ----------------------------------------------------------------------------------------


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body go out in one write; without this, Nagle + delayed ACK add ~40 ms.
    disable_nagle_algorithm = True
    timeout = IDLE_CONNECTION_SECONDS
    server_version = "ml-lifecycle-serving"
    server: _HttpServer

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        self._serve("GET")

    def do_POST(self) -> None:  # noqa: N802
        self._serve("POST")

    def do_PUT(self) -> None:  # noqa: N802
        self._serve("PUT")

    def do_DELETE(self) -> None:  # noqa: N802
        self._serve("DELETE")

    def _serve(self, method: str) -> None:
        body = self._read_body()
        if isinstance(body, HttpResponse):
            self._write(body)
            return
        response = self.server.api.handle(method, self.path, self.headers, body)
        self._write(response)
        if response.after is not None:
            try:
                response.after()
            except Exception:  # noqa: BLE001 - bookkeeping never breaks the connection
                log.exception("after-response work failed for %s %s", method, self.path)

    def _read_body(self) -> bytes | HttpResponse:
        length_text = self.headers.get("Content-Length")
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            self.close_connection = True
            return error_response(411, "chunked request bodies are not supported; send Content-Length")
        if length_text is None:
            return b""
        if not length_text.strip().isdigit():
            self.close_connection = True
            return error_response(400, f"invalid Content-Length {length_text!r}")
        length = int(length_text)
        limit = self.server.max_body_bytes
        if length > limit:
            self.close_connection = True
            # A client blocked writing its body would never read the answer: drain moderate excess
            # (in chunks, never held), and just close on absurd lengths.
            if length <= OVERSIZE_DRAIN_FACTOR * limit:
                remaining = length
                while remaining > 0:
                    chunk = self.rfile.read(min(remaining, 1 << 20))
                    if not chunk:
                        break
                    remaining -= len(chunk)
            return error_response(413, f"request body of {length} bytes is over the limit of {limit} bytes")
        return self.rfile.read(length)

    def _write(self, response: HttpResponse) -> None:
        head = (
            f"HTTP/1.1 {response.status} {self.responses.get(response.status, ('',))[0]}\r\n"
            f"Content-Type: {response.content_type}\r\n"
            f"Content-Length: {len(response.body)}\r\n"
            + "".join(f"{name}: {value}\r\n" for name, value in response.headers.items())
            + ("Connection: close\r\n" if self.close_connection else "")
            + "\r\n"
        )
        self.wfile.write(head.encode("latin-1") + response.body)
        self.wfile.flush()

    def log_message(self, format: str, *args) -> None:  # noqa: A002 - http.server's signature
        log.debug("%s " + format, self.address_string(), *args)


class _HttpServer(ThreadingHTTPServer):
    daemon_threads = True
    # Many clients reconnecting at once (a load test) overflow the default backlog of 5.
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], api: ServingApi, max_body_bytes: int) -> None:
        self.api = api
        self.max_body_bytes = max_body_bytes
        super().__init__(address, _Handler)


# -- the server ----------------------------------------------------------------------------------


class ModelServer:
    """Owns the models, the HTTP server, the watcher, the shadow worker and the log writer."""

    def __init__(
        self,
        config: ServingConfig,
        models: dict[str, ServedModel],
        services: ServingServices,
        host: str,
        port: int,
    ) -> None:
        self.config = config
        self.models = models
        self.services = services
        self.batcher = Batcher(config.batching) if config.batching.enabled else None
        self.shadow_worker = ShadowWorker(models, services, config.rollout.shadow_queue)
        services.shadow = self.shadow_worker.submit
        services.on_rollout_change = self._pin
        self.api = ServingApi(
            models,
            services,
            predictor=self.batcher.predict if self.batcher else direct_predictor,
            routing_key_header=config.rollout.routing_key_header,
            extra_metrics=self._extra_metrics,
        )
        self._host, self._port = host, port
        self._http: _HttpServer | None = None
        self._threads: list[threading.Thread] = []
        self._stopping = threading.Event()

    @property
    def url(self) -> str:
        host, port = self._http.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> ModelServer:
        for served in self.models.values():
            # The persisted state first (against what is on disk), so the versions it names are
            # pinned and loaded even when the version policy alone would not load them ...
            served.router.load(version_directories(served.repository.base_path))
            self._pin(served)
            served.repository.poll(wait_for_stable_files=False)
            # ... then again against what actually loaded (a version may have failed).
            served.router.load(served.repository.available())
            self._pin(served)
        settle_heap()
        self.shadow_worker.start()
        self._http = _HttpServer((self._host, self._port), self.api, self.config.max_body_bytes)
        self._threads = [
            threading.Thread(target=self._http.serve_forever, name="http", daemon=True),
            threading.Thread(target=self._watch, name="model-watcher", daemon=True),
        ]
        for thread in self._threads:
            thread.start()
        log.info("serving %s on %s", sorted(self.models), self.url)
        return self

    def stop(self) -> None:
        self._stopping.set()
        if self._http is not None:
            self._http.shutdown()
            self._http.server_close()
        for thread in self._threads:
            thread.join(10)
        self.shadow_worker.stop()
        if self.services.prediction_log is not None:
            self.services.prediction_log.close()
        if self.services.review_queue is not None:
            self.services.review_queue.close()

    def __enter__(self) -> ModelServer:
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()

    def poll_models(self) -> None:
        """One watcher pass: load new pushes, roll them out as configured, evaluate alerts."""
        rollout = self.config.rollout
        changed = False
        for served in self.models.values():
            self._pin(served)
            before = served.repository.available()
            for version in served.repository.poll():
                served.router.on_new_version(
                    version, rollout.on_new_version, rollout.canary_fraction, served.repository.available()
                )
                self._pin(served)
            changed = changed or served.repository.available() != before
        if changed:
            settle_heap()
        if self.services.monitor is not None:
            if self.services.prediction_log is not None:
                self.services.monitor.record_log_stats(self.services.prediction_log.stats())
            self.services.monitor.evaluate_alerts()

    def _watch(self) -> None:
        while not self._stopping.wait(self.config.poll_seconds):
            try:
                self.poll_models()
            except Exception:  # noqa: BLE001 - the watcher must outlive one bad scan
                log.exception("model watcher pass failed")

    @staticmethod
    def _pin(served: ServedModel) -> None:
        served.repository.pin(served.router.state.versions())

    def _extra_metrics(self) -> str:
        lines = [
            "# HELP lifecycle_serving_shadow_requests_total Shadow copies by outcome.",
            "# TYPE lifecycle_serving_shadow_requests_total counter",
        ]
        lines += [
            f'lifecycle_serving_shadow_requests_total{{outcome="{outcome}"}} {count}'
            for outcome, count in sorted(self.shadow_worker.counts.items())
        ]
        if self.batcher is not None:
            lines += [
                "# HELP lifecycle_serving_batches_total Model calls made by the request batcher.",
                "# TYPE lifecycle_serving_batches_total counter",
                f"lifecycle_serving_batches_total {self.batcher.batches}",
                "# HELP lifecycle_serving_batched_requests_total Requests answered through the batcher.",
                "# TYPE lifecycle_serving_batched_requests_total counter",
                f"lifecycle_serving_batched_requests_total {self.batcher.batched_calls}",
            ]
        return "\n".join(lines) + "\n"


def settle_heap() -> None:
    """Collects once, then moves every surviving object out of the garbage collector's sight.

    A loaded TensorFlow model leaves ~400k long-lived tracked objects; each full collection walks
    all of them while holding the GIL (measured: 300 ms, a p99 of 268 ms for 256-row requests at
    concurrency 8), and request parsing allocates enough to trigger one every few seconds. Frozen
    objects are never walked again. Called after versions are loaded or unloaded: unfreezing first
    lets the collection reclaim the cycles of an unloaded version, which a freeze would keep forever.
    """
    gc.unfreeze()
    gc.collect()
    gc.freeze()


def build_server(config, host: str | None = None, port: int | None = None) -> ModelServer:
    """A server for the project config's model (`config.serving_model_name`) under its serving root."""
    from ml_lifecycle.datasets.schema_file import read_schema
    from ml_lifecycle.serving.monitoring import Monitor, serving_expectations
    from ml_lifecycle.serving.prediction_log import PredictionLogWriter

    serving: ServingConfig = config.serving
    work_dir = Path(config.work_dir).resolve()
    schema_path = config.dataset.resolve_schema()
    schema = read_schema(schema_path) if schema_path is not None and schema_path.exists() else None
    required = (
        frozenset(name for name, e in serving_expectations(schema).items() if e.required)
        if schema
        else frozenset()
    )
    rules = FeatureRules(required=required, ignored=frozenset({config.dataset.label.name}))
    name = validate_model_name(config.serving_model_name)
    state_dir = Path(serving.state_dir) if serving.state_dir else work_dir / "serving_state"
    models = {
        name: ServedModel(
            ModelRepository(name, config.serving_root_path / name, serving.version_policy),
            Router(name, state_dir / f"{name}.json"),
            rules,
            dict(serving.version_labels),
        )
    }
    log_dir = serving.logging.resolve_directory(work_dir)
    services = ServingServices(
        monitor=Monitor(serving.monitoring, schema),
        prediction_log=PredictionLogWriter(serving.logging, log_dir) if serving.logging.enabled else None,
        review_config=serving.review,
        monitor_rows_per_request=serving.monitor_rows_per_request,
    )
    if serving.review.automation != "full":
        from ml_lifecycle.serving.review import ReviewQueue

        services.review_queue = ReviewQueue(serving.review.resolve_queue_path(work_dir))
    return ModelServer(
        serving, models, services, host or serving.host, serving.port if port is None else port
    )
