"""TFX wrapper: a ResolverStrategy that applies `pick_baseline` to the blessed models in MLMD."""

from __future__ import annotations

import ml_metadata as mlmd
from tfx import types
from tfx.dsl.components.common import resolver
from tfx.types import standard_artifacts

from ml_lifecycle.base.contracts import Prop
from ml_lifecycle.components.baseline_resolver.core import (
    CandidateBaseline,
    pick_baseline,
    pick_baseline_span,
)
from ml_lifecycle.components.spans import artifact_span
from ml_lifecycle.store.queries import (
    blessing_evaluation_id,
    inputs_by_key,
    producing_execution,
    pushed_models,
    training_spans,
)


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
            b.get_int_custom_property(Prop.CURRENT_MODEL_ID): b
            for b in input_dict[blessing_key]
            if b.get_int_custom_property(Prop.BLESSED) == 1
        }
        candidates = [
            CandidateBaseline(
                model_id=model_id,
                blessing_id=blessings[model_id].id,
                trained_on_spans=frozenset(training_spans(store, model_id)),
            )
            for model_id in models
            if model_id in blessings
        ]
        chosen = pick_baseline(candidates, self.span)
        if chosen is None:
            return {model_key: [], blessing_key: []}
        return {model_key: [models[chosen.model_id]], blessing_key: [blessings[chosen.model_id]]}


class BaselineStatisticsStrategy(resolver.ResolverStrategy):
    """The newest ExampleStatistics of the drift baseline span (see `pick_baseline_span`), with
    the Examples they were computed from (which carry the span)."""

    def __init__(
        self,
        span: int,
        mode: str = "pushed",
        pinned_span: int | None = None,
        pipeline_name: str | None = None,
    ):
        self.span = span
        self.mode = mode
        self.pinned_span = pinned_span
        self.pipeline_name = pipeline_name

    def resolve_artifacts(
        self, store: mlmd.MetadataStore, input_dict: dict[str, list[types.Artifact]]
    ) -> dict[str, list[types.Artifact]] | None:
        examples_by_id = {e.id: e for e in input_dict["examples"]}
        by_span: dict[int, tuple[types.Artifact, types.Artifact]] = {}
        for statistics in sorted(input_dict["statistics"], key=lambda a: a.id):
            execution = producing_execution(store, statistics.id)
            inputs = inputs_by_key(store, execution).get("examples", []) if execution else []
            examples = examples_by_id.get(inputs[0]) if inputs else None
            if examples is not None:
                by_span[artifact_span(examples)] = (statistics, examples)
        pushed_spans = [r.span for r in pushed_models(store, self.pipeline_name) if r.span is not None]
        chosen = pick_baseline_span(self.mode, self.span, set(by_span), pushed_spans, self.pinned_span)
        if chosen is None:
            return {"statistics": [], "examples": []}
        statistics, examples = by_span[chosen]
        return {"statistics": [statistics], "examples": [examples]}


class PushedModelStrategy(resolver.ResolverStrategy):
    """The newest pushed Model trained on another span, with its blessing-time evaluation."""

    def __init__(self, span: int, pipeline_name: str | None = None):
        self.span = span
        self.pipeline_name = pipeline_name

    def resolve_artifacts(
        self, store: mlmd.MetadataStore, input_dict: dict[str, list[types.Artifact]]
    ) -> dict[str, list[types.Artifact]] | None:
        model_key, evaluation_key = "model", "evaluation"
        models = {m.id: m for m in input_dict[model_key]}
        evaluations = {e.id: e for e in input_dict[evaluation_key]}
        for record in reversed(pushed_models(store, self.pipeline_name)):
            if record.span == self.span or record.model_id not in models:
                continue
            evaluation_id = blessing_evaluation_id(store, record.model_id)
            if evaluation_id in evaluations:
                return {
                    model_key: [models[record.model_id]],
                    evaluation_key: [evaluations[evaluation_id]],
                }
        return {model_key: [], evaluation_key: []}
