"""TFX Pusher executor that reserves a unique version and moves the model in with one rename.

Same contract as TFX's Pusher (blessing checks, `pushed`, `pushed_version`, `pushed_destination`
custom properties, archive copy under the artifact URI); only the filesystem destination changes:
the model is copied to `.staging-<version>` and renamed to `<version>`, so a model server never
sees a half-copied version and two pushes never share one.
"""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path
from typing import Any

from absl import logging
from tfx import types
from tfx.components.pusher import executor as pusher_executor
from tfx.proto import pusher_pb2
from tfx.types import artifact_utils, standard_component_specs
from tfx.utils import io_utils, proto_utils

from ml_lifecycle.components.versioned_pusher.core import STAGING_PREFIX, release_version, reserve_version


class Executor(pusher_executor.Executor):
    def Do(
        self,
        input_dict: dict[str, list[types.Artifact]],
        output_dict: dict[str, list[types.Artifact]],
        exec_properties: dict[str, Any],
    ) -> None:
        destination = pusher_pb2.PushDestination()
        proto_utils.json_to_proto(exec_properties[standard_component_specs.PUSH_DESTINATION_KEY], destination)
        base = destination.filesystem.base_directory if destination.HasField("filesystem") else ""
        if not base or "://" in base:
            # Cloud storage has no atomic mkdir/rename: TFX's own push (time-stamped versions).
            super().Do(input_dict, output_dict, exec_properties)
            return

        self._log_startup(input_dict, output_dict, exec_properties)
        model_push = artifact_utils.get_single_instance(
            output_dict[standard_component_specs.PUSHED_MODEL_KEY]
        )
        if not self.CheckBlessing(input_dict):
            self._MarkNotPushed(model_push)
            return
        model_path = self.GetModelPath(input_dict)
        base_directory = Path(base)
        version = reserve_version(base_directory, int(time.time()))
        staging = base_directory / f"{STAGING_PREFIX}{version}"
        serving_path = base_directory / str(version)
        try:
            shutil.rmtree(staging, ignore_errors=True)
            io_utils.copy_dir(model_path, str(staging))
            os.rename(staging, serving_path)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        finally:
            release_version(base_directory, version)
        logging.info("Model version %s written to %s.", version, serving_path)

        io_utils.copy_dir(model_path, model_push.uri)
        self._MarkPushed(model_push, pushed_destination=str(serving_path), pushed_version=str(version))
