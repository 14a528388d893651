"""The names TFMA metrics are listed under, and the task's headline metrics among them.

TFMA writes several entries under one metric name: `recall[class 1]` is class 1's recall,
`f1_score[macro]` the macro average, so neither overwrites the other nor an overall `f1_score`.
`headline_names` picks the task's headline metrics (`base.contracts.HEADLINE_METRICS`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence

from ml_lifecycle.base.contracts import HEADLINE_METRICS, Task

# TFMA's name for an average over classes (`aggregation_type { macro_average: true }`).
MACRO = "macro"


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


def headline_names(task: Task | None, names: Iterable[str]) -> list[str]:
    """The listed names of the task's headline metrics among `names`, gating metric first.

    A headline name stands for the overall entry, or where there is none for the macro average
    over classes (multiclass `f1_score`). Absent metrics are left out; no task, no headline.
    """
    if task is None:
        return []
    available = set(names)
    found = []
    for name in HEADLINE_METRICS[task]:
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
