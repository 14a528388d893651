"""`lifecycle serve`: one process, or a supervisor and `serving.workers` worker processes on one port.

With one worker the process serves both listeners itself (`ModelServer`). With several, this
process (the supervisor) binds the serving socket, spawns the workers (each loads its own copy of
the models and accepts on the shared socket: the kernel spreads connections), and serves the
admin listener itself:

- rollout changes: the admin listener applies them to the rollout state file under a lock;
  every worker re-reads the file every `serving.rollout.state_poll_seconds` and adopts it once
  the versions it names are loaded, so a change reaches all workers within that time (plus a
  load, for a version a worker did not have). Worker 0 is the leader: it alone rolls out
  newly pushed versions and evaluates alerts on its own schedule.
- metrics: each worker publishes its monitor's state every second (`observability.exchange`);
  whichever worker answers a scrape merges them all.
- logs: each worker writes its own prediction-log files (the file name has its pid); the review
  queue is one SQLite database in WAL mode, safe for several writers.
- SIGTERM or Ctrl-C: the serving socket closes, the admin listener stops, each worker drains
  (finishes in-flight requests within `serving.drain_seconds`, flushes its logs) and exits 0; a
  worker that outlives the drain is killed. A worker that dies while serving (any other exit
  code) is restarted. Workers drain too when the supervisor is killed outright.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from ml_lifecycle.base.errors import LifecycleError
from ml_lifecycle.config.project import PipelineConfig
from ml_lifecycle.serving.http.admin import AdminApi
from ml_lifecycle.serving.http.asgi import AsgiAdapter, RequestLimits
from ml_lifecycle.serving.http.build import admin_token, build_server, check_startup, state_dir
from ml_lifecycle.serving.http.listener import Listener, bind, socket_url
from ml_lifecycle.serving.http.openapi import openapi_route
from ml_lifecycle.serving.inference.repository import validate_model_name, version_directories
from ml_lifecycle.serving.observability.exchange import clear_snapshots
from ml_lifecycle.serving.router import Router

log = logging.getLogger(__name__)

# A worker that has not loaded its models within this long is a failed start.
WORKER_START_TIMEOUT_S = 600.0
EXCHANGE_DIRECTORY = "metrics"


class StopSignal:
    """SIGTERM or SIGINT, caught from the moment it is installed (before anything starts). The
    first one asks for a drain; a second SIGINT (Ctrl-C again) interrupts it."""

    def __init__(self) -> None:
        self.event = threading.Event()

    @classmethod
    def install(cls) -> StopSignal:
        stop = cls()
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, stop._received)
        return stop

    def _received(self, sig: int, _frame) -> None:
        self.event.set()
        signal.signal(signal.SIGINT, signal.default_int_handler)

    def is_set(self) -> bool:
        return self.event.is_set()

    def wait(self, parent_alive: Callable[[], bool] | None = None) -> None:
        """Blocks until a signal (or until `parent_alive()` turns False)."""
        while not self.event.wait(0.5):
            if parent_alive is not None and not parent_alive():
                log.error("the supervisor process is gone: draining")
                return


def serve(
    config: PipelineConfig,
    host: str | None = None,
    port: int | None = None,
    on_ready: Callable[[str, str | None, int], None] | None = None,
) -> int:
    """Serves until SIGTERM or SIGINT; `on_ready(url, admin_url, workers)` once every worker answers."""
    stop = StopSignal.install()
    workers = config.serving.resolve_workers()
    if workers == 1:  # build_server makes the start-up checks itself
        server = build_server(config, host, port).start()
        try:
            if on_ready is not None and not stop.is_set():
                on_ready(server.url, server.admin_url, 1)
            stop.wait()
        finally:
            server.stop()
        return 0
    # Before any worker is spawned, so a refusal is this command's error, not a worker's.
    check_startup(config)
    with Supervisor(config, workers, host, port, stop.event) as supervisor:
        if on_ready is not None and not stop.is_set():
            on_ready(supervisor.url, supervisor.admin_url, workers)
        stop.wait()
    return 0


@dataclass
class DiskRolloutTarget:
    """A model as the supervisor's admin listener steers it: versions are what is on disk (the
    workers load them), the state is the shared file."""

    name: str
    router: Router
    base_path: Path
    config_labels: dict[str, int] = field(default_factory=dict)

    def available(self) -> list[int]:
        return sorted(version_directories(self.base_path))

    def labels(self) -> dict[str, int]:
        self.sync()
        return {**self.config_labels, **self.router.state.labels()}

    def sync(self) -> None:
        state = self.router.persisted_change()
        if state is not None:
            self.router.adopt(state, self.available())


class WorkerStartError(LifecycleError, RuntimeError):
    """A worker process exited (or hung) before it served: its own error is in its output."""


class Supervisor:
    """The serving socket, the admin listener and the worker processes (see the module doc)."""

    def __init__(
        self,
        config: PipelineConfig,
        workers: int,
        host: str | None,
        port: int | None,
        stop_requested: threading.Event | None = None,
    ) -> None:
        self.config = config
        # Set by a signal: stop waiting for workers to start.
        self._stop_requested = stop_requested or threading.Event()
        self._spawn_lock = threading.Lock()
        self.workers = workers
        serving = config.serving
        self._sock = bind(host or serving.host, serving.port if port is None else port)
        self.url = socket_url(self._sock)
        self._exchange_dir = state_dir(config) / EXCHANGE_DIRECTORY
        self._context = multiprocessing.get_context("spawn")
        self._processes: list[multiprocessing.process.BaseProcess | None] = [None] * workers
        self._ready = [self._context.Event() for _ in range(workers)]
        self._stopping = threading.Event()
        self._executor = ThreadPoolExecutor(4, thread_name_prefix="admin")
        name = validate_model_name(config.serving_model_name)
        target = DiskRolloutTarget(
            name,
            Router(name, state_dir(config) / f"{name}.json"),
            config.serving_root_path / name,
            dict(serving.version_labels),
        )
        target.sync()
        limits = RequestLimits.of(serving)
        self._admin_app = AsgiAdapter(
            AdminApi({name: target}, admin_token(serving, os.environ)),
            limits,
            self._executor,
            openapi_route("admin"),
        )
        self._admin: Listener | None = None
        self._monitor: threading.Thread | None = None

    @property
    def admin_url(self) -> str | None:
        return self._admin.url if self._admin is not None else None

    def __enter__(self) -> Supervisor:
        self._exchange_dir.mkdir(parents=True, exist_ok=True)
        clear_snapshots(self._exchange_dir)
        for index in range(self.workers):
            self._spawn(index)
        deadline = time.monotonic() + WORKER_START_TIMEOUT_S
        for index, ready in enumerate(self._ready):
            while not ready.wait(0.5):
                if self._stop_requested.is_set():
                    return self
                process = self._processes[index]
                if process is None or not process.is_alive() or time.monotonic() > deadline:
                    self.__exit__(None, None, None)
                    raise WorkerStartError(
                        f"serving worker {index} did not start (exit code "
                        f"{None if process is None else process.exitcode}); its error is above"
                    )
        admin = self.config.serving.admin
        self._admin = Listener(
            self._admin_app, bind(admin.host, admin.port), self.config.serving, "admin"
        ).start()
        self._monitor = threading.Thread(target=self._watch_workers, name="worker-monitor", daemon=True)
        self._monitor.start()
        return self

    def __exit__(self, *exc_info) -> None:
        with self._spawn_lock:
            self._stopping.set()
        if self._monitor is not None:
            self._monitor.join(5)
        # Closed first: new connections are refused at once instead of queueing on a socket no
        # worker accepts on once they drain.
        self._sock.close()
        if self._admin is not None:
            self._admin.stop(10)
        for process in self._processes:
            if process is not None and process.is_alive():
                process.terminate()  # SIGTERM: the worker drains
        deadline = time.monotonic() + self.config.serving.drain_seconds + 15
        for index, process in enumerate(self._processes):
            if process is None:
                continue
            process.join(max(0.0, deadline - time.monotonic()))
            if process.is_alive():
                log.error("serving worker %d did not drain in time: killed", index)
                process.kill()
                process.join(5)
        self._executor.shutdown(wait=True)

    def _spawn(self, index: int) -> None:
        self._ready[index].clear()
        process = self._context.Process(
            target=worker_main,
            args=(
                self.config.model_dump_json(by_alias=True),
                self._sock,
                index,
                str(self._exchange_dir),
                self._ready[index],
            ),
            name=f"serving-worker-{index}",
        )
        process.start()
        self._processes[index] = process

    def _watch_workers(self) -> None:
        while not self._stopping.wait(1.0):
            for index, process in enumerate(self._processes):
                # Exit code 0 is a worker that drained on a signal (Ctrl-C reaches the whole
                # process group): the supervisor is stopping too. Anything else died serving.
                if process is None or process.is_alive() or process.exitcode == 0:
                    continue
                with self._spawn_lock:  # never spawns once __exit__ has begun
                    if self._stopping.is_set():
                        return
                    log.error("serving worker %d exited (code %s): restarting it", index, process.exitcode)
                    self._spawn(index)


def worker_main(config_json: str, sock, index: int, exchange_dir: str, ready) -> None:
    """One worker process: load, serve on the shared socket, drain on SIGTERM."""
    from ml_lifecycle.serving.observability.exchange import MetricsExchange

    # Before anything loads: a SIGTERM while the models load drains right after.
    stop = StopSignal.install()
    logging.basicConfig(
        level=logging.INFO, format=f"%(asctime)s worker-{index} %(levelname)s %(name)s: %(message)s"
    )
    config = PipelineConfig.model_validate_json(config_json)
    exchange: list[MetricsExchange] = []

    def add_exchange(services) -> None:
        if services.monitor is not None:
            # A name of its own per process: a restarted worker must not replace the counters
            # its predecessor published. Only the leader logs alert changes.
            exchange.append(
                MetricsExchange(
                    Path(exchange_dir), f"{index}-{os.getpid()}", services.monitor, log_alerts=index == 0
                )
            )
            services.metrics_view = exchange[0]

    server = build_server(
        config,
        leader=index == 0,
        worker=index,
        services_hook=add_exchange,
        publish_metrics=lambda: exchange[0].publish() if exchange else None,
    )
    server.start(sock=sock, with_admin=False)
    ready.set()
    # A supervisor killed outright (kill -9, OOM) must not leave its workers holding the port.
    parent = multiprocessing.parent_process()
    stop.wait(parent_alive=None if parent is None else parent.is_alive)
    server.stop()
    # Everything is flushed: exit without joining a thread stuck in a model call, and without
    # TensorFlow's teardown.
    sys.stdout.flush()
    sys.stderr.flush()
    logging.shutdown()
    os._exit(0)
