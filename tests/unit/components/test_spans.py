"""artifact_span: the span custom property TFX 1.16's ExampleGen writes wins over the declared
`span` property (which then reads 0); without either an artifact belongs to span 0."""

from __future__ import annotations

import pytest
from tfx.types import standard_artifacts

from ml_lifecycle.base.contracts import Prop
from ml_lifecycle.components.spans import artifact_span


@pytest.mark.parametrize("declared", [0, 2], ids=["declared-left-at-0", "declared-set"])
def test_the_custom_property_wins_over_the_declared_one(declared):
    examples = standard_artifacts.Examples()
    examples.span = declared
    examples.set_int_custom_property(Prop.SPAN, 7)

    assert artifact_span(examples) == 7


def test_the_declared_property_is_used_without_a_custom_one():
    statistics = standard_artifacts.ExampleStatistics()
    statistics.span = 4

    assert artifact_span(statistics) == 4


def test_a_custom_span_that_is_not_an_integer_falls_back_to_the_declared_property():
    examples = standard_artifacts.Examples()
    examples.span = 3
    examples.set_string_custom_property(Prop.SPAN, "9")

    assert artifact_span(examples) == 3


def test_an_artifact_type_without_a_span_property_reads_its_custom_span():
    model = standard_artifacts.Model()
    model.set_int_custom_property(Prop.SPAN, 5)

    assert artifact_span(model) == 5


def test_no_span_anywhere_is_span_zero():
    assert artifact_span(standard_artifacts.Examples()) == 0
    assert artifact_span(standard_artifacts.Model()) == 0
