"""The names TFMA metrics are listed under, the task's headline metrics among them, and how a
metric's value is printed.

TFMA writes several entries under one metric name: `recall[class 1]` is class 1's recall,
`f1_score[macro]` the macro average, so neither overwrites the other nor an overall `f1_score`.
`headline_names` picks the task's headline metrics (`base.contracts.HEADLINE_METRICS`), the
configured gate's metric first (`gate_metric_name` maps its TFMA class name to the listed name).
`metric_text` and `change_text` are the one number format of `lifecycle run`, `lifecycle diff`
and the HTML report.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence

from ml_lifecycle.base.contracts import HEADLINE_METRICS, Task

# TFMA's name for an average over classes (`aggregation_type { macro_average: true }`).
MACRO = "macro"
# Metrics that count examples: printed as whole numbers whatever their size.
COUNT_METRICS = frozenset({"example_count", "weighted_example_count"})
# Past this, a metric is in the label's units (a regression's errors, 18,177) and its decimals are noise.
WHOLE_UNITS_FROM = 1e4


def per_class_name(name: str, class_id: int) -> str:
    """The listed name of one class's entry of a metric: `recall[class 1]`."""
    return f"{name}[class {class_id}]"


def averaged_name(name: str, aggregation: str = MACRO) -> str:
    """The listed name of a metric averaged over classes: `f1_score[macro]`."""
    return f"{name}[{aggregation}]"


_PER_CLASS = re.compile(r"^(?P<metric>.+)\[class (?P<class_id>\d+)\]$")


def metric_name(key) -> str:
    """The name a TFMA `MetricKey` is listed under: its name, qualified by its output, class,
    k / top_k and averaging, so that every entry of one model in one slice has its own name."""
    qualifiers = []
    if key.HasField("sub_key"):
        sub_key = key.sub_key
        # A message field, so class 0 (`class_id { }`, value unset) is still a class.
        if sub_key.HasField("class_id"):
            qualifiers.append(f"class {sub_key.class_id.value}")
        if sub_key.HasField("k"):
            qualifiers.append(f"k {sub_key.k.value}")
        if sub_key.HasField("top_k"):
            qualifiers.append(f"top_k {sub_key.top_k.value}")
    if key.HasField("aggregation_type"):
        kind = key.aggregation_type.WhichOneof("type")
        if kind:
            qualifiers.append(kind.removesuffix("_average"))
    name = f"{key.output_name}/{key.name}" if key.output_name else key.name
    return f"{name}[{', '.join(qualifiers)}]" if qualifiers else name


def class_named(name: str, classes: Sequence[str]) -> str:
    """A per-class metric's name with the class's value for its index (`recall[Chinstrap]`);
    other names, and indexes past `classes`, unchanged."""
    match = _PER_CLASS.match(name)
    if match is None or int(match["class_id"]) >= len(classes):
        return name
    return f"{match['metric']}[{classes[int(match['class_id'])]}]"


def per_class_values(
    metrics: Mapping[str, float], metric: str, classes: Sequence[str] = ()
) -> dict[str, float]:
    """One metric's per-class entries as class -> value, in class index order; a class is named
    by its value in `classes`, else `class N`."""
    by_class_id = {}
    for name, value in metrics.items():
        match = _PER_CLASS.match(name)
        if match is not None and match["metric"] == metric:
            by_class_id[int(match["class_id"])] = value
    return {
        classes[class_id] if class_id < len(classes) else f"class {class_id}": by_class_id[class_id]
        for class_id in sorted(by_class_id)
    }


# A lower-case letter or digit before a capital (Root|Mean, F1|Score), or the last capital of an
# acronym before a capitalised word (AUC|Precision): where TFMA's snake-case names put `_`.
_WORD_START = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")


def gate_metric_name(class_name: str) -> str:
    """The name TFMA lists a metric class's value under (the class's default metric name), as a
    gate names it in `evaluation.metric`: RootMeanSquaredError -> root_mean_squared_error,
    AUC -> auc, AUCPrecisionRecall -> auc_precision_recall, F1Score -> f1_score."""
    return _WORD_START.sub("_", class_name).lower()


def headline_names(task: Task | None, names: Iterable[str], gate_metric: str | None = None) -> list[str]:
    """The listed names of the task's headline metrics among `names`, gating metric first.

    The gating metric is `gate_metric` (a listed name, `gate_metric_name`) when given and
    evaluated, else the task's default (its first headline metric); a configured gate outside the
    task's headline metrics still leads. A headline name stands for the overall entry, or where
    there is none for the macro average over classes (multiclass `f1_score`). Absent metrics are
    left out; no task, no headline.
    """
    if task is None:
        return []
    available = set(names)
    found = []
    wanted = HEADLINE_METRICS[task]
    if gate_metric is not None:
        wanted = (gate_metric, *(name for name in wanted if name != gate_metric))
    for name in wanted:
        for candidate in (name, averaged_name(name)):
            if candidate in available:
                found.append(candidate)
                break
    return found


def task_of_metrics(names: Iterable[str]) -> Task | None:
    """The task whose gating metric (its first headline metric) an evaluation holds, or None."""
    available = set(names)
    return next(
        (task for task in Task if headline_names(task, available)[:1] == [HEADLINE_METRICS[task][0]]),
        None,
    )


def _is_count(name: str) -> bool:
    """`example_count`, also with an output or a qualifier (`head/example_count[class 1]`)."""
    return name.split("[", 1)[0].rsplit("/", 1)[-1] in COUNT_METRICS


def metric_text(name: str, value: float) -> str:
    """A metric's value as printed: counts whole, values past 10,000 whole with thousands
    separators (18,177), everything else with four decimals; NaN (an undefined AUC) as `nan`."""
    if math.isnan(value):
        return "nan"
    if _is_count(name) or abs(value) >= WHOLE_UNITS_FROM:
        return f"{value:,.0f}"
    return f"{value:.4f}"


def change_text(name: str, before: float, after: float) -> str:
    """The signed change from `before` to `after` as printed: whole for counts and for metrics
    past 10,000 on either side, else with four decimals."""
    change = after - before
    if math.isnan(change):
        return "nan"
    if _is_count(name) or max(abs(before), abs(after)) >= WHOLE_UNITS_FROM:
        return f"{change:+,.0f}"
    return f"{change:+.4f}"
