"""A model server from the project config, and the checks that refuse to start an unsafe one.

`check_startup(config, environ)` runs before anything loads (and before workers are spawned):
admin beyond loopback needs a token, a hashed feature needs its key. `build_server` wires one
process's models, monitor, prediction log, review queue and privacy policy.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from tensorflow_metadata.proto.v0 import schema_pb2

from ml_lifecycle.base.errors import ConfigError
from ml_lifecycle.config.project import PipelineConfig
from ml_lifecycle.config.serving import ServingConfig
from ml_lifecycle.datasets.schema_file import read_schema
from ml_lifecycle.serving.http.api import ServedModel, ServingServices
from ml_lifecycle.serving.http.server import ModelServer
from ml_lifecycle.serving.inference.repository import ModelRepository, validate_model_name
from ml_lifecycle.serving.observability.monitor import Monitor
from ml_lifecycle.serving.observability.prediction_log import PredictionLogWriter
from ml_lifecycle.serving.observability.privacy import feature_privacy
from ml_lifecycle.serving.observability.schema_checks import serving_expectations
from ml_lifecycle.serving.protocol.values import FeatureRules
from ml_lifecycle.serving.review import ReviewQueue
from ml_lifecycle.serving.router import Router

# Shorter tokens are refused: a bearer token is the only thing between the network and rollouts.
MIN_TOKEN_CHARS = 16


def admin_token(serving: ServingConfig, environ: Mapping[str, str]) -> str:
    """The admin bearer token ('' for none); a ConfigError when admin would listen beyond
    loopback without one, or the configured variable is unset or too short. Never echoes it."""
    admin = serving.admin
    if not admin.token_env:
        if not admin.on_loopback:
            raise ConfigError(
                f"serving.admin.host is {admin.host!r}, beyond loopback: set serving.admin.token_env to "
                "the name of an environment variable holding a bearer token, or keep admin on 127.0.0.1"
            )
        return ""
    token = environ.get(admin.token_env, "")
    if len(token) < MIN_TOKEN_CHARS:
        raise ConfigError(
            f"serving.admin.token_env: environment variable {admin.token_env} is "
            f"{'unset or empty' if not token else 'too short'}; it must hold a bearer token of at least "
            f"{MIN_TOKEN_CHARS} characters (e.g. `export {admin.token_env}=$(openssl rand -hex 32)`)"
        )
    return token


def serving_schema(config: PipelineConfig) -> schema_pb2.Schema | None:
    """The curated schema the server checks requests against; None when the project has none yet."""
    schema_path = config.dataset.resolve_schema()
    return read_schema(schema_path) if schema_path is not None and schema_path.exists() else None


def check_privacy_features(serving: ServingConfig, schema: schema_pb2.Schema | None) -> None:
    """A ConfigError for `serving.privacy` features the schema does not have: a misspelt name
    would leave the real feature in the clear."""
    if schema is None or not serving.privacy:
        return
    known = {feature.name for feature in schema.feature}
    unknown = sorted(set(serving.privacy) - known)
    if unknown:
        raise ConfigError(
            f"serving.privacy names features the schema does not have: {unknown}; "
            f"expected some of {sorted(known)}"
        )


def check_startup(config: PipelineConfig, environ: Mapping[str, str] | None = None) -> None:
    """Every refusal to start, before anything loads (and before workers are spawned, so the
    error is the command's, not a worker's)."""
    environ = os.environ if environ is None else environ
    admin_token(config.serving, environ)
    feature_privacy(config.serving, environ)
    check_privacy_features(config.serving, serving_schema(config))


def state_dir(config: PipelineConfig) -> Path:
    serving = config.serving
    return Path(serving.state_dir) if serving.state_dir else Path(config.work_dir).resolve() / "serving_state"


def build_server(
    config: PipelineConfig,
    host: str | None = None,
    port: int | None = None,
    *,
    leader: bool = True,
    worker: int | None = None,
    environ: Mapping[str, str] | None = None,
    publish_metrics=None,
    services_hook=None,
) -> ModelServer:
    """A server for the project config's model (`config.serving_model_name`) under its serving
    root. `leader=False` (workers after the first) follows the rollout state file and never
    writes it. `services_hook(services)` may replace collaborators (workers add the metrics
    exchange)."""
    environ = os.environ if environ is None else environ
    serving: ServingConfig = config.serving
    token = admin_token(serving, environ)
    privacy = feature_privacy(serving, environ)
    work_dir = Path(config.work_dir).resolve()
    schema = serving_schema(config)
    check_privacy_features(serving, schema)
    required = (
        frozenset(name for name, e in serving_expectations(schema).items() if e.required)
        if schema
        else frozenset()
    )
    rules = FeatureRules(
        required=required,
        ignored=frozenset({config.dataset.label.name}),
        max_rows=serving.max_rows_per_request,
    )
    name = validate_model_name(config.serving_model_name)
    models = {
        name: ServedModel(
            ModelRepository(name, config.serving_root_path / name, serving.version_policy),
            Router(name, state_dir(config) / f"{name}.json", writes_state=leader),
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
        privacy=privacy,
    )
    if serving.review.automation != "full":
        services.review_queue = ReviewQueue(serving.review.resolve_queue_path(work_dir))
    if services_hook is not None:
        services_hook(services)
    return ModelServer(
        serving,
        models,
        services,
        host or serving.host,
        serving.port if port is None else port,
        admin_token=token,
        leader=leader,
        worker=worker,
        publish_metrics=publish_metrics,
    )
