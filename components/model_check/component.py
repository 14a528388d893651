"""TFX wrapper of the model check: outputs an InfraBlessing that carries the stamped model.

On success the model is copied into the blessing with `assets.extra/tf_serving_warmup_requests`
and `has_model=1`, so Pusher pushes the warmed-up copy (the InfraValidator `make_warmup` contract).
"""

import glob
import logging
import os

import tensorflow as tf
from tfx.dsl.component.experimental.annotations import InputArtifact, OutputArtifact, Parameter
from tfx.dsl.component.experimental.decorators import component
from tfx.types import artifact_utils, standard_artifacts
from tfx.utils import io_utils, path_utils

from ml_lifecycle.base.contracts import SERVING_SIGNATURE, ArtifactFile, Prop
from ml_lifecycle.base.model_description import load_model_ops, read_model_description
from ml_lifecycle.components.model_check.core import strip_features, warmup_requests
from ml_lifecycle.models.warmup import ModelCheckError, replay

# InfraBlessing properties only TFX reads: the Pusher pushes the blessing's stamped copy of the
# model where `has_model` is 1 (TFX keeps the name private). The other two are for people only.
_HAS_MODEL = "has_model"
_WARMUP_REQUEST_COUNT = "warmup_requests"
_P50_LATENCY_MS = "p50_latency_ms"


def _read_examples(examples, split: str, limit: int) -> list[bytes]:
    pattern = os.path.join(artifact_utils.get_split_uri([examples], split), "*")
    files = sorted(glob.glob(pattern))
    dataset = tf.data.TFRecordDataset(files, compression_type="GZIP").take(limit)
    return [record.numpy() for record in dataset]


@component
def ModelCheck(
    model: InputArtifact[standard_artifacts.Model],
    examples: InputArtifact[standard_artifacts.Examples],
    blessing: OutputArtifact[standard_artifacts.InfraBlessing],
    label: Parameter[str],
    model_name: Parameter[str],
    num_warmup_examples: Parameter[int] = 100,
    split: Parameter[str] = "eval",
    signature_name: Parameter[str] = SERVING_SIGNATURE,
) -> None:
    model_dir = path_utils.serving_model_path(model.uri, path_utils.is_old_model_artifact(model))
    try:
        serialized = [
            strip_features(e, {label}) for e in _read_examples(examples, split, num_warmup_examples)
        ]
        load_model_ops(read_model_description(model_dir, tf.io.gfile.exists, io_utils.read_string_file))
        loaded = tf.saved_model.load(model_dir)
        if signature_name not in loaded.signatures:
            raise ModelCheckError(
                f"signature {signature_name!r} missing; the model has {list(loaded.signatures)}"
            )
        signature = loaded.signatures[signature_name]
        input_keys = list(signature.structured_input_signature[1])
        if len(input_keys) != 1:
            raise ModelCheckError(f"expected one serialized-examples input, got {input_keys}")
        logs = warmup_requests(serialized, model_name, signature_name, input_keys[0])
        result = replay(signature, logs)
    except ModelCheckError as error:
        logging.error("model check failed: %s", error)
        io_utils.write_string_file(os.path.join(blessing.uri, "INFRA_NOT_BLESSED"), "")
        blessing.set_int_custom_property(Prop.BLESSED, 0)
        blessing.set_string_custom_property(Prop.REASON, str(error))
        return

    stamped = path_utils.stamped_model_path(blessing.uri)
    io_utils.copy_dir(model_dir, stamped)
    tf.io.gfile.makedirs(os.path.dirname(os.path.join(stamped, ArtifactFile.WARMUP_REQUESTS)))
    with tf.io.TFRecordWriter(os.path.join(stamped, ArtifactFile.WARMUP_REQUESTS)) as writer:
        for log in logs:
            writer.write(log.SerializeToString())
    io_utils.write_string_file(os.path.join(blessing.uri, "INFRA_BLESSED"), "")
    blessing.set_int_custom_property(Prop.BLESSED, 1)
    blessing.set_int_custom_property(_HAS_MODEL, 1)
    blessing.set_int_custom_property(_WARMUP_REQUEST_COUNT, result.requests)
    blessing.set_float_custom_property(_P50_LATENCY_MS, result.p50_ms)
