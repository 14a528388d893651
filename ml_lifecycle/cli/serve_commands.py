"""`lifecycle serve | rollout ... | alerts`: run the model server and steer a running one.

`serve` blocks until Ctrl-C (or SIGTERM), then drains. `rollout` talks to a running server's
admin listener (`--url`, default http://<serving.admin.host>:<serving.admin.port>), sending the
bearer token from `serving.admin.token_env` when one is configured, so a rollout change takes
effect without a restart and the server persists it. `alerts` reads the serving port.
`serve --export-prometheus-rules FILE` writes the configured alerts as a Prometheus rules file
and exits.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import time
import urllib.error
import urllib.parse
import urllib.request
from typing import TYPE_CHECKING

from ml_lifecycle.base.contracts import ServerPath
from ml_lifecycle.base.errors import LifecycleError, UsageError

if TYPE_CHECKING:
    from ml_lifecycle.config.project import PipelineConfig


class ServerUnreachableError(LifecycleError, ValueError):
    """No server answers at the given URL, or the URL is not http://HOST:PORT."""


class ServerAnswerError(LifecycleError, ValueError):
    """The server refused a request (its 4xx `{"error": ...}` message), or what answered is not
    a lifecycle model server (not HTTP, not a JSON object)."""


def register(commands) -> None:
    """Adds this module's subcommands to the `lifecycle` parser."""
    serve = commands.add_parser("serve", help="serve the pushed model over TF Serving's REST API")
    serve.add_argument("--host", default=None, help="bind address (default serving.host, 127.0.0.1)")
    serve.add_argument("--port", type=int, default=None, help="port (default serving.port, 8501)")
    serve.add_argument(
        "--workers", type=int, default=None, help="worker processes (default serving.workers: one per core)"
    )
    serve.add_argument(
        "--export-prometheus-rules",
        metavar="FILE",
        default=None,
        help="write serving.monitoring.alerts as a Prometheus rules file and exit",
    )
    serve.set_defaults(handler=cmd_serve)

    rollout = commands.add_parser("rollout", help="canary, shadow, blue/green on a running server")
    rollout.add_argument(
        "--url",
        default=None,
        help="admin listener URL (default http://<serving.admin.host>:<serving.admin.port>)",
    )
    rollout.add_argument("--model", default=None, help="model name (default the config's model)")
    actions = rollout.add_subparsers(dest="action", required=True)
    actions.add_parser("status", help="the rollout state, labels and loaded versions")
    stable = actions.add_parser("stable", help="send all traffic to VERSION")
    stable.add_argument("version", type=int)
    canary = actions.add_parser("canary", help="send FRACTION of traffic (sticky by routing key) to VERSION")
    canary.add_argument("version", type=int)
    canary.add_argument(
        "--fraction", type=float, default=None, help="0..1 (default serving.rollout.canary_fraction)"
    )
    actions.add_parser("promote", help="the canary becomes stable")
    actions.add_parser(
        "rollback", help="all traffic back to stable now (or back to the previous color/version)"
    )
    shadow = actions.add_parser("shadow", help="copy live requests to VERSION; --off stops")
    shadow.add_argument("version", type=int, nargs="?")
    shadow.add_argument("--off", action="store_true")
    blue_green = actions.add_parser(
        "blue-green", help="load a blue and a green version; one takes all traffic"
    )
    blue_green.add_argument("--blue", type=int, required=True)
    blue_green.add_argument("--green", type=int, required=True)
    blue_green.add_argument("--active", choices=("blue", "green"), default="blue")
    switch = actions.add_parser("switch", help="blue/green: move all traffic to the other color")
    switch.add_argument("--to", choices=("blue", "green"), default=None)
    rollout.set_defaults(handler=cmd_rollout)

    alerts = commands.add_parser("alerts", help="active alerts of a running server")
    alerts.add_argument(
        "--url", default=None, help="server URL (default http://<serving.host>:<serving.port>)"
    )
    alerts.add_argument("--json", action="store_true", help="print the JSON answer")
    alerts.set_defaults(handler=cmd_alerts)


def cmd_serve(config: PipelineConfig, args: argparse.Namespace) -> int:
    if args.export_prometheus_rules:
        from ml_lifecycle.serving.observability.rules_file import write_prometheus_rules

        path = write_prometheus_rules(config.serving.monitoring, args.export_prometheus_rules)
        print(f"wrote {len(config.serving.monitoring.alerts)} alert rule(s) to {path}")
        return 0
    from ml_lifecycle.serving.http.workers import serve

    if args.workers is not None:
        if args.workers < 1:
            raise UsageError(f"--workers {args.workers}: expected 1 or more")
        config = config.model_copy(
            update={"serving": config.serving.model_copy(update={"workers": args.workers})}
        )

    def ready(url: str, admin_url: str | None, workers: int) -> None:
        print(f"model {config.serving_model_name}: {workers} worker(s) serving on {url} (Ctrl-C stops)")
        print(f"admin (lifecycle rollout) on {admin_url}", flush=True)

    return serve(config, args.host, args.port, on_ready=ready)


def rollout_request(args, default_fraction: float | None) -> dict:
    """The admin endpoint's JSON body for a `lifecycle rollout` action (pure)."""
    action = args.action
    if action == "stable":
        return {"action": "stable", "version": args.version}
    if action == "canary":
        body = {"action": "canary", "version": args.version}
        fraction = args.fraction if args.fraction is not None else default_fraction
        if fraction is not None:
            body["fraction"] = fraction
        return body
    if action in ("promote", "rollback"):
        return {"action": action}
    if action == "shadow":
        if args.off:
            return {"action": "shadow_off"}
        if args.version is None:
            raise UsageError("lifecycle rollout shadow: give a VERSION, or --off")
        return {"action": "shadow", "version": args.version}
    if action == "blue-green":
        return {"action": "blue_green", "blue": args.blue, "green": args.green, "color": args.active}
    if action == "switch":
        return {"action": "switch", "color": args.to}
    raise UsageError(f"unknown rollout action {action!r}")


def cmd_rollout(config: PipelineConfig, args: argparse.Namespace) -> int:
    admin = config.serving.admin
    url = args.url or _url(admin.host, admin.port)
    model = args.model or config.serving_model_name
    path = ServerPath.ADMIN_ROLLOUT.value.format(model=model)
    token = admin_token_from_env(admin.token_env)
    if args.action == "status":
        answer = http_json("GET", url + path, token=token)
    else:
        body = rollout_request(args, config.serving.rollout.canary_fraction)
        answer = http_json("POST", url + path, body, token=token)
    print(format_rollout(answer))
    return 0


def cmd_alerts(config: PipelineConfig, args: argparse.Namespace) -> int:
    answer = http_json("GET", (args.url or _default_url(config)) + ServerPath.ALERTS)
    if args.json:
        print(json.dumps(answer, indent=1))
        return 0
    alerts = answer.get("alerts", [])
    if not alerts:
        print("no active alerts")
    for alert in alerts:
        bound = ">" if alert.get("bound") == "max" else "<"
        since = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(alert.get("since", 0)))
        print(
            f"{alert.get('rule')}: {alert.get('metric')} = {alert.get('value'):.4g} {bound} "
            f"{alert.get('threshold')} (model {alert.get('model') or '-'}, since {since})"
        )
    return 0


def format_rollout(answer: dict) -> str:
    state = answer.get("state", {})
    lines = [f"model {answer.get('model')}: available versions {answer.get('available')}"]
    lines.append(f"  stable   {state.get('stable')}")
    if state.get("canary") is not None:
        lines.append(
            f"  canary   {state['canary']} ({state.get('canary_fraction', 0):.1%} of traffic, sticky by key)"
        )
    if state.get("shadow") is not None:
        lines.append(f"  shadow   {state['shadow']} (copies of live requests)")
    if state.get("active_color") is not None:
        lines.append(
            f"  blue     {state.get('blue')}{'  <- live' if state['active_color'] == 'blue' else ''}\n"
            f"  green    {state.get('green')}{'  <- live' if state['active_color'] == 'green' else ''}"
        )
    if state.get("previous_stable") is not None:
        lines.append(f"  previous {state['previous_stable']} (rollback target)")
    lines.append(f"  labels   {answer.get('labels')}")
    return "\n".join(lines)


def _default_url(config) -> str:
    return _url(config.serving.host, config.serving.port)


def _url(host: str, port: int) -> str:
    host = "127.0.0.1" if host in ("0.0.0.0", "") else ("::1" if host == "::" else host)
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def admin_token_from_env(token_env: str) -> str | None:
    """The admin bearer token `serving.admin.token_env` names; None when none is configured."""
    if not token_env:
        return None
    token = os.environ.get(token_env, "")
    if not token:
        raise UsageError(
            f"serving.admin.token_env names {token_env}, which is unset or empty here: "
            f"export the admin token as {token_env} to steer the server"
        )
    return token


_URL_FORM = "expected http://HOST:PORT (e.g. http://127.0.0.1:8501)"


def http_json(
    method: str, url: str, body: dict | None = None, timeout: float = 30.0, token: str | None = None
) -> dict:
    """One JSON request; the server's 4xx `{"error": ...}` becomes a ServerAnswerError with its message.

    A URL that is not http(s)://HOST[:PORT] or no server answering is a ServerUnreachableError;
    an answer that is not a JSON object (another program on that port) is a ServerAnswerError.
    """
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ServerUnreachableError(f"{url}: not a server URL; {_URL_FORM}")
    data = json.dumps(body).encode() if body is not None else None
    try:
        request = urllib.request.Request(
            url, data=data, method=method, headers={"Content-Type": "application/json"}
        )
        if token is not None:
            # Unredirected: a redirect to another host never carries the token along.
            request.add_unredirected_header("Authorization", f"Bearer {token}")
        with urllib.request.urlopen(request, timeout=timeout) as response:
            text = response.read()
    except urllib.error.HTTPError as error:
        message = (_json_object(error.read()) or {}).get("error", "")
        raise ServerAnswerError(f"{method} {url}: HTTP {error.code}: {message or error.reason}") from error
    except (ValueError, http.client.InvalidURL) as error:  # e.g. a port that is not a number
        raise ServerUnreachableError(f"{url}: not a server URL ({error}); {_URL_FORM}") from error
    except (urllib.error.URLError, OSError) as error:
        raise ServerUnreachableError(
            f"{url}: no server answers ({getattr(error, 'reason', error)}); start one with `lifecycle serve`"
        ) from error
    except http.client.HTTPException as error:  # an answer, but not HTTP
        raise ServerAnswerError(
            f"{method} {url}: the answer is not HTTP ({type(error).__name__}: {error}); "
            "is a lifecycle model server on that port?"
        ) from error
    answer = _json_object(text)
    if answer is None:
        raise ServerAnswerError(
            f"{method} {url}: expected a JSON object, got {text[:80]!r}; "
            "is a lifecycle model server on that port?"
        )
    return answer


def _json_object(text: bytes) -> dict | None:
    """The JSON object `text` holds; None for anything else (not JSON, not UTF-8, a list)."""
    try:
        value = json.loads(text)
    except ValueError:  # JSONDecodeError and UnicodeDecodeError both
        return None
    return value if isinstance(value, dict) else None
