"""Internal names: identifiers TF accepts for any column, distinct for distinct columns."""

from __future__ import annotations

import re

import pytest

from ml_lifecycle.base.names import internal_name

TF_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]*")


@pytest.mark.parametrize("column", ["fare", "trip_start_hour", "Pclass"])
def test_plain_identifiers_keep_their_names(column):
    assert internal_name(column) == column


@pytest.mark.parametrize(
    ("column", "stem"),
    [
        ("Body Mass (g)", "Body_Mass_g_"),
        ("district/zone", "district_zone_"),
        ("Floor Area (m²)", "Floor_Area_m2_"),
        ("größe", "groe_"),
        ("2nd-line.value", "c_2nd_line_value_"),
        ("(%)", "column_"),
    ],
)
def test_other_names_become_identifiers_with_a_hash(column, stem):
    name = internal_name(column)

    assert TF_NAME.fullmatch(name), name
    assert name.startswith(stem)
    assert re.fullmatch(r"[0-9a-f]{6}", name[len(stem) :])


def test_names_that_sanitise_alike_stay_distinct():
    columns = ["a b", "a-b", "a.b", "a/b", "a (b)"]

    assert len({internal_name(c) for c in columns}) == len(columns)


def test_the_name_is_stable():
    assert internal_name("Body Mass (g)") == internal_name("Body Mass (g)")
    assert internal_name("Body Mass (g)") != internal_name("Body Mass (kg)")
