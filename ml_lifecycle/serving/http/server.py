"""One model server process: the models, the HTTP listeners, the watcher, the background workers.

`ModelServer.start()` loads the versions already pushed (synchronously, so the first request
finds them warm), restores the rollout state, then serves on background threads until `stop()`:
the serving listener (on a socket of its own, or one shared with other worker processes) and,
unless the process is one of several workers, the admin listener. The watcher thread loads new
pushes, follows the rollout state file (a change made by the admin listener of another process
is adopted within `serving.rollout.state_poll_seconds`, once the versions it names are loaded),
publishes this process's metrics for the other workers, and evaluates alerts. Only the leader
(the single process, or worker 0) rolls out new versions and evaluates alerts on its own.

Building one from the project config is `build.py`; several workers on one port, `workers.py`.
"""

from __future__ import annotations

import gc
import logging
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor

from ml_lifecycle.base.contracts import ServerHeader
from ml_lifecycle.config.serving import ServingConfig
from ml_lifecycle.serving.http.admin import AdminApi
from ml_lifecycle.serving.http.api import ServedModel, ServingApi, ServingServices
from ml_lifecycle.serving.http.asgi import AsgiAdapter, RequestLimits
from ml_lifecycle.serving.http.listener import Listener, bind
from ml_lifecycle.serving.http.openapi import openapi_route
from ml_lifecycle.serving.inference.batching import Batcher
from ml_lifecycle.serving.inference.predict import direct_predictor
from ml_lifecycle.serving.inference.repository import version_directories
from ml_lifecycle.serving.inference.servable import ServableVersion
from ml_lifecycle.serving.observability.shadow import ShadowWorker

log = logging.getLogger(__name__)

# Threads running requests' API calls and their bookkeeping, per process. Model calls release the
# GIL, so more threads than cores keep the batcher fed; past that they only queue.
API_THREADS = 16
# Threads running the work after responses (metrics, log and review queue submits).
BOOKKEEPING_THREADS = 2


class ModelServer:
    """Owns the models, the listeners, the watcher, the shadow worker and the log writer."""

    def __init__(
        self,
        config: ServingConfig,
        models: dict[str, ServedModel],
        services: ServingServices,
        host: str,
        port: int,
        *,
        admin_token: str = "",
        leader: bool = True,
        worker: int | None = None,
        publish_metrics=None,
    ) -> None:
        self.config = config
        self.models = models
        self.services = services
        self.leader = leader
        # Called from the watcher about once a second: this worker's metrics for the others.
        self._publish_metrics = publish_metrics
        self.batcher = (
            Batcher(config.batching, timeout_s=config.request_timeout_ms / 1000.0)
            if config.batching.enabled
            else None
        )
        self.api = ServingApi(
            models,
            services,
            predictor=self.batcher.predict if self.batcher else direct_predictor,
            routing_key_header=config.rollout.routing_key_header,
            response_headers=None if worker is None else {ServerHeader.WORKER.value: str(worker)},
        )
        services.process_counters = self.process_counters
        self.admin = AdminApi(models, admin_token, on_change=self._pin)
        self.shadow_worker = ShadowWorker(
            self._servable,
            self.api.hooks.after_shadow,
            config.rollout.shadow_queue,
            config.rollout.shadow_queue_bytes,
        )
        services.shadow = self.shadow_worker.submit
        self._host, self._port = host, port
        self._executor = ThreadPoolExecutor(API_THREADS, thread_name_prefix="api")
        self._after_executor = ThreadPoolExecutor(BOOKKEEPING_THREADS, thread_name_prefix="bookkeeping")
        self._listeners: list[Listener] = []
        self._watcher: threading.Thread | None = None
        self._stopping = threading.Event()

    @property
    def url(self) -> str:
        return self._listeners[0].url

    @property
    def admin_url(self) -> str | None:
        return self._listeners[1].url if len(self._listeners) > 1 else None

    def start(self, sock: socket.socket | None = None, with_admin: bool = True) -> ModelServer:
        """Loads, then serves on `sock` (default: binds serving.host/port) and, `with_admin`, on
        the admin listener (serving.admin.host/port)."""
        self.load_models()
        self.shadow_worker.start()
        limits = RequestLimits.of(self.config)
        serving_app = AsgiAdapter(
            self.api, limits, self._executor, openapi_route("serving"), after_executor=self._after_executor
        )
        self._listeners = [
            Listener(serving_app, sock or bind(self._host, self._port), self.config, "http").start()
        ]
        if with_admin:
            admin = self.config.admin
            admin_app = AsgiAdapter(self.admin, limits, self._executor, openapi_route("admin"))
            self._listeners.append(
                Listener(admin_app, bind(admin.host, admin.port), self.config, "admin").start()
            )
        self._watcher = threading.Thread(target=self._watch, name="model-watcher", daemon=True)
        self._watcher.start()
        log.info("serving %s on %s (admin %s)", sorted(self.models), self.url, self.admin_url or "elsewhere")
        return self

    def load_models(self) -> None:
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

    def stop(self) -> None:
        """Drains: listeners stop accepting and let in-flight requests finish (at most
        serving.drain_seconds), queued bookkeeping runs, logs flush and close."""
        self._stopping.set()
        for listener in self._listeners:
            listener.stop(self.config.drain_seconds + 5)
        # Requests have drained; a thread still in a model call is stuck and is not waited for
        # (the process exits without joining it).
        self._executor.shutdown(wait=False, cancel_futures=True)
        self._after_executor.shutdown(wait=True)
        if self._watcher is not None:
            self._watcher.join(10)
        self.shadow_worker.stop(timeout=min(5.0, self.config.drain_seconds))
        self.publish_metrics()
        if self.services.prediction_log is not None:
            self.services.prediction_log.close(timeout=self.config.drain_seconds)
        if self.services.review_queue is not None:
            self.services.review_queue.close()

    def __enter__(self) -> ModelServer:
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()

    def poll_models(self) -> None:
        """One watcher pass: load new pushes, roll them out as configured (the leader), evaluate
        alerts."""
        rollout = self.config.rollout
        changed = False
        for served in self.models.values():
            self._pin(served)
            before = served.repository.available()
            for version in served.repository.poll():
                if self.leader:
                    served.router.on_new_version(
                        version,
                        rollout.on_new_version,
                        rollout.canary_fraction,
                        served.repository.available(),
                    )
                self._pin(served)
            changed = changed or served.repository.available() != before
        if changed:
            settle_heap()
        if self.leader and self.services.monitor is not None:
            self.services.monitor.record_log_stats(self.process_counters())
            self.api.metrics_view().evaluate_alerts()

    def follow_rollout_state(self) -> None:
        """Adopts a rollout state another process wrote, once the versions it names are loaded."""
        for served in self.models.values():
            state = served.router.persisted_change()
            if state is None:
                continue
            served.repository.pin(state.versions() | served.router.state.versions())
            # Files still being copied are not loaded yet: the state is offered again next tick.
            served.repository.poll(wait_for_stable_files=True)
            adopted = served.router.adopt(state, served.repository.available())
            self._pin(served)
            if adopted is not None:
                log.info("model %s: following rollout state %s", served.name, adopted)

    def _watch(self) -> None:
        config = self.config
        tick = min(config.poll_seconds, config.rollout.state_poll_seconds, 1.0)
        next_poll = time.monotonic() + config.poll_seconds
        while not self._stopping.wait(tick):
            try:
                self.follow_rollout_state()
                if time.monotonic() >= next_poll:
                    next_poll = time.monotonic() + config.poll_seconds
                    self.poll_models()
                self.publish_metrics()
            except Exception:  # noqa: BLE001 - the watcher must outlive one bad pass
                log.exception("model watcher pass failed")

    def _servable(self, model: str, version: int) -> ServableVersion:
        return self.models[model].repository.servable(version)

    def _pin(self, served: ServedModel) -> None:
        served.repository.pin(served.router.state.versions())

    def process_counters(self) -> dict[str, int]:
        """The counters this process keeps outside the monitor, for the monitor to export (and
        sum over the workers): the prediction log's, the shadow queue's, the batcher's."""
        counters: dict[str, int] = {}
        if self.services.prediction_log is not None:
            counters.update(self.services.prediction_log.stats())
        counters.update({f"shadow:{outcome}": count for outcome, count in self.shadow_worker.counts.items()})
        if self.batcher is not None:
            counters["batcher:batches"] = self.batcher.batches
            counters["batcher:batched_requests"] = self.batcher.batched_calls
            counters["batcher:timeouts"] = self.batcher.timeouts
        return counters

    def publish_metrics(self) -> None:
        if self._publish_metrics is None:
            return
        if self.services.monitor is not None:
            self.services.monitor.record_log_stats(self.process_counters())
        self._publish_metrics()


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
