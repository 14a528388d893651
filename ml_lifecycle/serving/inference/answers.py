"""What a model's outputs mean, by its task: one `ModelAnswer` per answered request.

Both scoring signatures (`SCORING_SIGNATURES`) return one output, `SCORES_OUTPUT`: binary
[rows, 1], the sigmoid probability of class 1; multiclass [rows, K], softmax probabilities in the
order of the description's `classes`; regression [rows, 1], the predicted value. Other
signatures (a multiclass model's `transform_features`) answer something else: they have no
`ModelAnswer`, and a `:predict` on one is answered with its outputs as they are.

`ModelAnswer.score` is the one number per row that the bookkeeping judges (the monitor's
`score_mean`, the review rule, the review queue's `score`): binary, the probability of class 1;
multiclass, the top class's probability; regression, the predicted value.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np

from ml_lifecycle.base.contracts import RAW_SIGNATURE, SCORES_OUTPUT, SERVING_SIGNATURE, Task
from ml_lifecycle.base.model_description import ModelDescription
from ml_lifecycle.serving.inference.signatures import SignatureInfo

# A binary model's classify labels, in class-index order: TF Serving's "0"/"1" for a 0/1 label.
BINARY_CLASSES = ("0", "1")
# A binary answer predicts class 1 at or above this P(class 1) (shadow agreement judges by it too).
DECISION_THRESHOLD = 0.5
# The signatures whose `SCORES_OUTPUT` is the model's answer (a version lacking it does not load).
SCORING_SIGNATURES = (SERVING_SIGNATURE, RAW_SIGNATURE)

# The task's noun, as errors name a model ("a regression model", "a multiclass classifier").
TASK_NOUNS = {
    Task.BINARY: "a binary classifier",
    Task.MULTICLASS: "a multiclass classifier",
    Task.REGRESSION: "a regression model",
}


@dataclass(frozen=True)
class ModelAnswer:
    """A model's answer to one request: its output rows, read by the model's task."""

    task: Task
    values: np.ndarray  # [rows, K] float64: K = 1 (binary, regression) or the classes
    classes: tuple[str, ...] = ()  # the label of each class, in class-index order (classifiers)

    @classmethod
    def of(cls, task: Task, values, classes: tuple[str, ...] = ()) -> ModelAnswer:
        """An answer from rows of values (a flat list: one value per row)."""
        array = np.asarray(values, dtype=np.float64)
        array = array.reshape(len(array), -1) if array.ndim else array.reshape(1, 1)
        if task is Task.BINARY:
            classes = BINARY_CLASSES
        elif task is Task.MULTICLASS and not classes:
            classes = tuple(str(index) for index in range(array.shape[1]))
        return cls(task, array, tuple(classes))

    @property
    def rows(self) -> int:
        return int(self.values.shape[0])

    @property
    def is_classifier(self) -> bool:
        return self.task is not Task.REGRESSION

    @cached_property
    def score(self) -> np.ndarray:
        """Per row: binary P(class 1), multiclass the top probability, regression the value."""
        if self.task is Task.MULTICLASS:
            return self.values.max(axis=1)
        return self.values[:, 0]

    @cached_property
    def top_index(self) -> np.ndarray:
        """Per row, the index in `classes` of the predicted class (classifiers only)."""
        if self.task is Task.MULTICLASS:
            return self.values.argmax(axis=1)
        if self.task is Task.BINARY:
            return (self.values[:, 0] >= DECISION_THRESHOLD).astype(np.int64)
        raise ValueError("a regression answer has no predicted class")

    def top_class(self, row: int) -> str:
        return self.classes[int(self.top_index[row])]

    def class_scores(self) -> np.ndarray:
        """[rows, classes]: each class's probability (binary: 1 - p, p)."""
        if self.task is Task.BINARY:
            return np.column_stack([1.0 - self.values[:, 0], self.values[:, 0]])
        if self.task is Task.MULTICLASS:
            return self.values
        raise ValueError("a regression answer has no class scores")


def answer_of(
    outputs: dict[str, np.ndarray], description: ModelDescription, signature: str
) -> ModelAnswer | None:
    """A scoring signature's `SCORES_OUTPUT` as the model's task reads it; None for another
    signature (`transform_features`: its outputs are no answer to judge, review or count)."""
    if signature not in SCORING_SIGNATURES:
        return None
    values = outputs.get(SCORES_OUTPUT)
    if values is None:
        # `check_description` refuses such a version at load: reaching this is a bug.
        raise ValueError(f"signature {signature!r} returned {sorted(outputs)}, not {SCORES_OUTPUT!r}")
    answer = ModelAnswer.of(description.task, values, description.classes)
    if answer.task is Task.MULTICLASS and answer.values.shape[1] != len(answer.classes):
        raise ValueError(
            f"the model answered {answer.values.shape[1]} scores per row, but its description "
            f"lists {len(answer.classes)} classes"
        )
    return answer


def check_description(description: ModelDescription, signatures: dict[str, SignatureInfo]) -> None:
    """Each scoring signature returns `SCORES_OUTPUT`, whose width agrees with the task where the
    signature fixes it: 1 for binary and regression, one per class for multiclass (whose
    description must list its classes)."""
    if description.task is Task.MULTICLASS and len(description.classes) < 2:
        raise ValueError(
            f"the model description says task 'multiclass' but lists classes {list(description.classes)}"
        )
    expected = len(description.classes) if description.task is Task.MULTICLASS else 1
    for info in signatures.values():
        if info.name not in SCORING_SIGNATURES:
            continue
        if SCORES_OUTPUT not in info.outputs:
            raise ValueError(
                f"signature {info.name!r} has no output {SCORES_OUTPUT!r} (it returns {info.outputs})"
            )
        width = info.output_widths.get(SCORES_OUTPUT)
        if width is not None and width != expected:
            raise ValueError(
                f"signature {info.name!r} answers {width} values per row in {SCORES_OUTPUT!r}; "
                f"{TASK_NOUNS[description.task]} answers {expected}"
            )
