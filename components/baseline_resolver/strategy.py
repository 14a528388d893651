"""TFX wrapper: a ResolverStrategy that applies `pick_baseline` to the blessed models in MLMD."""

from __future__ import annotations

import ml_metadata as mlmd
from tfx import types
from tfx.dsl.components.common import resolver
from tfx.types import standard_artifacts

from components.baseline_resolver.core import CandidateBaseline, pick_baseline
from metadata.store import upstream_artifacts

# Custom properties the Evaluator writes on a ModelBlessing.
_BLESSED = "blessed"
_CURRENT_MODEL_ID = "current_model_id"


class LatestBlessedModelFromOtherSpanStrategy(resolver.ResolverStrategy):
    """Latest blessed Model (and its ModelBlessing) not trained on `span`."""

    def __init__(self, span: int):
        self.span = span

    def resolve_artifacts(
        self, store: mlmd.MetadataStore, input_dict: dict[str, list[types.Artifact]]
    ) -> dict[str, list[types.Artifact]] | None:
        if not all(input_dict.values()):
            # No model or no blessing yet (the first run): no baseline.
            return {key: [] for key in input_dict}
        model_key = next(k for k, v in input_dict.items() if isinstance(v[0], standard_artifacts.Model))
        blessing_key = next(k for k in input_dict if k != model_key)
        models = {m.id: m for m in input_dict[model_key]}
        blessings = {
            b.get_int_custom_property(_CURRENT_MODEL_ID): b
            for b in input_dict[blessing_key]
            if b.get_int_custom_property(_BLESSED) == 1
        }
        candidates = [
            CandidateBaseline(
                model_id=model_id,
                blessing_id=blessings[model_id].id,
                trained_on_spans=frozenset(
                    int(a.properties["span"])
                    for a in upstream_artifacts(store, model_id)
                    if a.type == "Examples" and "span" in a.properties
                ),
            )
            for model_id in models
            if model_id in blessings
        ]
        chosen = pick_baseline(candidates, self.span)
        if chosen is None:
            return {model_key: [], blessing_key: []}
        return {model_key: [models[chosen.model_id]], blessing_key: [blessings[chosen.model_id]]}
