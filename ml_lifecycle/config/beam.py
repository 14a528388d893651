"""The `beam:` section: which Beam runner does the data work, and its validated options.

Every option is checked at config load with the field named; `pipeline_args` produces the
arguments Beam's own option classes parse (tests parse them back).
"""

from __future__ import annotations

import importlib.metadata
import re
import sys
from typing import Literal

from pydantic import Field, model_validator

from ml_lifecycle.config.strict import StrictModel


class DataflowConfig(StrictModel):
    """Google Cloud Dataflow (`beam.runner: dataflow`). Empty / 0 means Dataflow's own default."""

    project: str = ""
    region: str = ""
    # Dataflow workers cannot see this machine's disk: both must be gs:// paths.
    temp_location: str = ""
    staging_location: str = ""  # default: <temp_location>/staging, chosen by Beam
    machine_type: str = ""  # e.g. n2-standard-4
    num_workers: int = Field(default=0, ge=0)  # workers at start
    max_num_workers: int = Field(default=0, ge=0)  # autoscaling ceiling
    autoscaling_algorithm: Literal["", "THROUGHPUT_BASED", "NONE"] = ""
    disk_size_gb: int = Field(default=0, ge=0)
    service_account_email: str = ""
    network: str = ""
    subnetwork: str = ""
    # A custom SDK container (this project + its lock installed); default: Beam's own image.
    sdk_container_image: str = ""

    def missing_for_runner(self) -> list[str]:
        return [name for name in ("project", "region", "temp_location") if not getattr(self, name)]

    def pipeline_args(self) -> list[str]:
        args = [
            "--runner=DataflowRunner",
            f"--project={self.project}",
            f"--region={self.region}",
            f"--temp_location={self.temp_location}",
        ]
        optional = {
            "staging_location": self.staging_location,
            "machine_type": self.machine_type,
            "num_workers": self.num_workers,
            "max_num_workers": self.max_num_workers,
            "autoscaling_algorithm": self.autoscaling_algorithm,
            "disk_size_gb": self.disk_size_gb,
            "service_account_email": self.service_account_email,
            "network": self.network,
            "subnetwork": self.subnetwork,
            "sdk_container_image": self.sdk_container_image,
        }
        return args + [f"--{name}={value}" for name, value in optional.items() if value]


class PortableRunnerConfig(StrictModel):
    """Flink or Spark through a Beam job server (`beam.runner: flink | spark`)."""

    job_endpoint: str = ""  # host:port of the running job server (Flink default port 8099)
    # Where the Python SDK workers run: DOCKER (a container per task manager / executor, the
    # image in environment_config or Beam's default), EXTERNAL (a worker pool at
    # environment_config's host:port) or PROCESS (environment_config: {"command": ...}).
    environment_type: Literal["DOCKER", "EXTERNAL", "PROCESS"] = "DOCKER"
    environment_config: str = ""
    parallelism: int = Field(default=0, ge=0)  # Flink only; 0 = the cluster's default

    def pipeline_args(self) -> list[str]:
        args = [
            "--runner=PortableRunner",
            f"--job_endpoint={self.job_endpoint}",
            f"--environment_type={self.environment_type}",
        ]
        if self.environment_config:
            args.append(f"--environment_config={self.environment_config}")
        if self.parallelism:
            args.append(f"--parallelism={self.parallelism}")
        return args


# Beam args that tell TFX's Beam executors the workers' dependencies are taken care of
# (tfx.utils.dependency_utils.make_beam_dependency_flags).
TFX_DEPENDENCY_FLAGS = (
    "--extra_packages",
    "--extra_package",
    "--setup_file",
    "--requirements_file",
    "--worker_harness_container_image",
    "--sdk_container_image",
)
_ENDPOINT = re.compile(r"^[A-Za-z0-9.\-\[\]:]+:\d{1,5}$")


class BeamConfig(StrictModel):
    """Which Beam runner does the data work of ExampleGen, StatisticsGen, Transform, Evaluator."""

    runner: Literal["direct", "dataflow", "flink", "spark"] = "direct"
    # DirectRunner only. auto: in-memory below `auto_threshold_rows`, multi-processing above.
    # Measured here: on a ~1k-row span, worker start-up makes multi-processing slower than
    # in-memory (benchmarks/scale.py and docs/scaling.md for larger spans).
    mode: Literal["auto", "in_memory", "multi_processing"] = "auto"
    num_workers: int = Field(default=0, ge=0)  # 0 = one per CPU
    auto_threshold_rows: int = Field(default=200_000, ge=0)
    dataflow: DataflowConfig = DataflowConfig()
    flink: PortableRunnerConfig = PortableRunnerConfig()
    spark: PortableRunnerConfig = PortableRunnerConfig()
    extra_args: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _options_for_runner(self) -> BeamConfig:
        runner = self.runner
        if any(arg.split("=", 1)[0] == "--runner" for arg in self.extra_args):
            raise ValueError("beam.extra_args sets --runner: choose it with beam.runner instead")
        direct_only = [
            name for name in ("mode", "num_workers", "auto_threshold_rows") if name in self.model_fields_set
        ]
        if runner != "direct" and direct_only:
            raise ValueError(
                f"{', '.join('beam.' + name for name in direct_only)} "
                f"{'is' if len(direct_only) == 1 else 'are'} for beam.runner 'direct' only"
                f" (beam.runner is {runner!r})"
            )
        if runner == "dataflow":
            missing = self.dataflow.missing_for_runner()
            if missing:
                raise ValueError(
                    f"beam.runner 'dataflow' needs {', '.join('beam.dataflow.' + name for name in missing)}"
                    " (project, region, and temp_location as a gs:// path)"
                )
            for name in ("temp_location", "staging_location"):
                value = getattr(self.dataflow, name)
                if value and not value.startswith("gs://"):
                    raise ValueError(
                        f"beam.dataflow.{name} {value!r}: expected a gs:// path (Dataflow workers "
                        "cannot read this machine's disk)"
                    )
            dataflow = self.dataflow
            if dataflow.max_num_workers and dataflow.num_workers > dataflow.max_num_workers:
                raise ValueError(
                    f"beam.dataflow.num_workers {dataflow.num_workers} is above "
                    f"beam.dataflow.max_num_workers {dataflow.max_num_workers}"
                )
        if runner in ("flink", "spark"):
            portable = getattr(self, runner)
            if not portable.job_endpoint:
                raise ValueError(
                    f"beam.runner {runner!r} needs beam.{runner}.job_endpoint: host:port of the "
                    f"running Beam {runner.capitalize()} job server (e.g. localhost:8099)"
                )
            if not _ENDPOINT.match(portable.job_endpoint):
                raise ValueError(
                    f"beam.{runner}.job_endpoint {portable.job_endpoint!r}: expected host:port, "
                    "e.g. flink-jobserver:8099"
                )
            if portable.environment_type in ("EXTERNAL", "PROCESS") and not portable.environment_config:
                expected = (
                    "the worker pool's host:port"
                    if portable.environment_type == "EXTERNAL"
                    else ('a JSON {"command": "/path/to/boot"}')
                )
                raise ValueError(
                    f"beam.{runner}.environment_type {portable.environment_type!r} needs "
                    f"beam.{runner}.environment_config: {expected}"
                )
            if runner == "spark" and portable.parallelism:
                raise ValueError("beam.spark.parallelism is a Flink option; Spark takes its executors' cores")
        return self

    def tfx_packaging_args(self, args: list[str]) -> list[str]:
        """What stops TFX from packaging itself for a DirectRunner that never ships code.

        Unless the Beam args name one of `TFX_DEPENDENCY_FLAGS`, every TFX Beam executor copies the
        tfx install (~49 MB) to a new temporary directory and builds an sdist of it, for remote
        workers: ~2.6 s per Beam component here (four per run), and the copies are never removed.
        DirectRunner's workers are this machine's interpreter, in-process or as subprocesses, so
        naming the SDK image a portable runner would use (which DirectRunner ignores) is exact
        and free. Other runners get nothing: what their workers install is the user's choice."""
        if self.runner != "direct" or any(arg.split("=", 1)[0] in TFX_DEPENDENCY_FLAGS for arg in args):
            return []
        python = f"{sys.version_info.major}.{sys.version_info.minor}"
        image = f"apache/beam_python{python}_sdk:{importlib.metadata.version('apache-beam')}"
        return [f"--sdk_container_image={image}"]

    def pipeline_args(self, span_rows: int | None) -> list[str]:
        """Beam pipeline args for every Beam-powered component; `span_rows` drives `mode: auto`."""
        if self.runner == "dataflow":
            return self.dataflow.pipeline_args() + list(self.extra_args)
        if self.runner in ("flink", "spark"):
            return getattr(self, self.runner).pipeline_args() + list(self.extra_args)
        mode = self.mode
        if mode == "auto":
            big = span_rows is not None and span_rows >= self.auto_threshold_rows
            mode = "multi_processing" if big else "in_memory"
        args = [f"--direct_running_mode={mode}"]
        if mode == "multi_processing":
            args.append(f"--direct_num_workers={self.num_workers}")
        return args + list(self.extra_args)
