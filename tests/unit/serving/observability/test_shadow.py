"""Shadow answers compared with the live ones, as each task defines agreement."""

from __future__ import annotations

import numpy as np
import pytest

from ml_lifecycle.base.contracts import Task
from ml_lifecycle.serving.inference.answers import ModelAnswer
from ml_lifecycle.serving.observability.shadow import compare


def test_binary_answers_agree_on_the_same_side_of_one_half():
    live = ModelAnswer.of(Task.BINARY, [0.2, 0.7, 0.49])
    agree, difference = compare(live, live.like({"outputs": np.array([[0.4], [0.45], [0.5]])}))
    assert agree.tolist() == [True, False, False]
    assert difference == pytest.approx([0.2, 0.25, 0.01])


def test_multiclass_answers_agree_on_the_top_class_and_differ_by_total_variation():
    classes = ("a", "b", "c")
    live = ModelAnswer.of(Task.MULTICLASS, [[0.6, 0.3, 0.1], [0.2, 0.5, 0.3]], classes)
    shadow = live.like({"outputs": np.array([[0.5, 0.4, 0.1], [0.5, 0.2, 0.3]])})
    agree, difference = compare(live, shadow)
    assert agree.tolist() == [True, False]
    assert difference == pytest.approx([0.1, 0.3])


def test_regression_answers_agree_within_five_percent_of_the_live_value():
    live = ModelAnswer.of(Task.REGRESSION, [100.0, 100.0, 0.0])
    agree, difference = compare(live, live.like({"outputs": np.array([[104.0], [106.0], [0.0]])}))
    assert agree.tolist() == [True, False, True]
    assert difference == pytest.approx([4.0, 6.0, 0.0])


def test_a_shadow_answer_of_another_shape_is_an_error():
    live = ModelAnswer.of(Task.MULTICLASS, [[0.6, 0.4]], ("a", "b"))
    with pytest.raises(ValueError, match="shadow version answered"):
        compare(live, live.like({"outputs": np.array([[0.2, 0.3, 0.5]])}))
