"""The span an artifact belongs to.

TFX 1.16's ExampleGen records `span` as a custom property of Examples, while the artifact
class declares it as a property, so `examples.span` reads 0; StatisticsGen then copies that 0
onto its statistics. Read the custom property, falling back to the declared one.
"""

from tfx.types.artifact import Artifact

from ml_lifecycle.base.contracts import Prop


def artifact_span(artifact: Artifact) -> int:
    custom = artifact.mlmd_artifact.custom_properties.get(Prop.SPAN)
    if custom is not None and custom.WhichOneof("value") == "int_value":
        return int(custom.int_value)
    return int(getattr(artifact, "span", 0) or 0)
