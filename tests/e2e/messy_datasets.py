"""Made-up datasets, one per task, carrying what real files carry: dates as text, `NA` tokens,
column names with spaces, parentheses, slashes and non-ASCII letters, a CSV glob and a Parquet
directory. Each `write_*` writes the source files and the dataset YAML into a directory and returns
the YAML's path; the data has signal, so the models learn something a test can check.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import yaml

MONTHS = ("2024-01", "2024-02", "2024-03")
# Penguins whose species the source leaves as `NA`: `data prepare` drops and counts them.
PENGUINS_UNLABELLED = 7


def _dates(rng: np.random.Generator, rows: int) -> pd.Series:
    """Spread over January to March 2024 (spans 1-3 by month)."""
    # From 06:00, so times written with a European offset still fall in 2024 in UTC.
    start = pd.Timestamp("2024-01-01 06:00")
    return pd.Series(start + pd.to_timedelta(rng.uniform(0, 90, rows), unit="D"))


def _with_na(values: pd.Series, rng: np.random.Generator, token: str, share: float) -> pd.Series:
    text = pd.Series(values).astype(str)
    return text.mask(rng.random(len(text)) < share, token)


def write_penguins(directory: Path, rows: int = 900, seed: int = 11) -> Path:
    """Multiclass: three species from body mass and flipper length; a Parquet directory source,
    ISO dates, `NA` masses, `Body Mass (g)`."""
    rng = np.random.default_rng(seed)
    species = rng.choice(["Adelie", "Chinstrap", "Gentoo"], rows, p=[0.45, 0.2, 0.35])
    kinds = [species == "Adelie", species == "Chinstrap"]
    mass = np.select(kinds, [3700, 3730], 5080) + rng.normal(0, 350, rows)
    flipper = np.select(kinds, [190, 196], 217) + rng.normal(0, 5, rows)
    island = np.where(species == "Gentoo", "Biscoe", rng.choice(["Dream", "Torgersen", "Biscoe"], rows))
    frame = pd.DataFrame(
        {
            "observed on": _dates(rng, rows).dt.strftime("%Y-%m-%d"),
            "Body Mass (g)": _with_na(mass.round(0).astype(int), rng, "NA", 0.03),
            "Flipper Length (mm)": flipper.round(1),
            "island": island,
            "Clutch Completion": rng.choice(["Yes", "No"], rows, p=[0.9, 0.1]),
            "species": species,
        }
    )
    frame.loc[rng.choice(rows, PENGUINS_UNLABELLED, replace=False), "species"] = "NA"
    parquet_dir = Path(directory) / "penguins_parquet"
    parquet_dir.mkdir(parents=True, exist_ok=True)
    half = rows // 2
    frame.iloc[:half].to_parquet(parquet_dir / "part-0.parquet", index=False)
    frame.iloc[half:].to_parquet(parquet_dir / "part-1.parquet", index=False)
    return _write_yaml(
        directory,
        {
            "name": "penguins",
            "source_parquet": "penguins_parquet",
            "label": {"name": "species", "task": "multiclass"},
            "features": {
                "numeric": ["Body Mass (g)", "Flipper Length (mm)"],
                "categorical_string": ["island", "Clutch Completion"],
            },
            "spans": _monthly("observed on", "iso"),
            "evaluation": {"slice_features": ["island"]},
            "schema": "penguins_schema.pbtxt",
        },
    )


def write_flats(directory: Path, rows: int = 900, seed: int = 12) -> Path:
    """Regression: a flat's price from its floor area, rooms and district; a glob of CSV files,
    ISO datetimes with offsets, `N/A` and `null` tokens, `Floor Area (m²)` and `district/zone`."""
    rng = np.random.default_rng(seed)
    area = rng.gamma(6.0, 12.0, rows)
    district = rng.choice(["north", "south-east", "centre"], rows, p=[0.4, 0.35, 0.25])
    rooms = np.clip((area / 25).round(), 1, 6).astype(int)
    price = 2_500 * area + np.select([district == "centre", district == "north"], [90_000, 20_000], 0)
    price = price + rng.normal(0, 15_000, rows)
    # A fixed +01:00 offset (a zone with daylight saving has local times that do not exist).
    listed = _dates(rng, rows).dt.tz_localize("+01:00").dt.strftime("%Y-%m-%dT%H:%M:%S%z")
    frame = pd.DataFrame(
        {
            "listed at": listed,
            "Floor Area (m²)": area.round(1),
            "rooms": _with_na(pd.Series(rooms), rng, "N/A", 0.03),
            "district/zone": _with_na(pd.Series(district), rng, "null", 0.02),
            "price": price.round(0),
        }
    )
    raw = Path(directory) / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    for part, chunk in enumerate(np.array_split(np.arange(rows), 3)):
        frame.iloc[chunk].to_csv(raw / f"flats-{part}.csv", index=False)
    return _write_yaml(
        directory,
        {
            "name": "flats",
            "source_csv": "raw/flats-*.csv",
            "label": {"name": "price", "task": "regression"},
            "features": {
                "numeric": ["Floor Area (m²)"],
                "categorical_int": ["rooms"],
                "categorical_string": ["district/zone"],
            },
            # time_format left to `auto`: ISO-8601 is recognised.
            "spans": {"time_column": "listed at", "period": "month", "origin": "2024-01-01"},
            "schema": "flats_schema.pbtxt",
        },
    )


def write_churn(directory: Path, rows: int = 900, seed: int = 13) -> Path:
    """Binary: whether a customer leaves, from tenure and charges; day-first dates read with a
    strftime pattern, `NA` charges, `Monthly Charges ($)`."""
    rng = np.random.default_rng(seed)
    tenure = rng.integers(1, 72, rows)
    charges = rng.uniform(20, 120, rows)
    contract = rng.choice(["month-to-month", "one year", "two year"], rows, p=[0.5, 0.3, 0.2])
    logit = -1.0 + 0.03 * (charges - 70) - 0.05 * (tenure - 30) + (contract == "month-to-month") * 1.2
    churned = (rng.random(rows) < 1 / (1 + np.exp(-logit))).astype(int)
    frame = pd.DataFrame(
        {
            "signed up": _dates(rng, rows).dt.strftime("%d/%m/%Y"),
            "tenure (months)": tenure,
            "Monthly Charges ($)": _with_na(pd.Series(charges.round(2)), rng, "NA", 0.03),
            "Contract": contract,
            "churned": churned,
        }
    )
    frame.to_csv(Path(directory) / "churn.csv", index=False)
    return _write_yaml(
        directory,
        {
            "name": "churn",
            "source_csv": "churn.csv",
            "label": {"name": "churned"},
            "features": {
                "numeric": ["Monthly Charges ($)"],
                "bucketized": ["tenure (months)"],
                "categorical_string": ["Contract"],
            },
            "spans": _monthly("signed up", "%d/%m/%Y"),
            "evaluation": {"slice_features": ["Contract"]},
            "schema": "churn_schema.pbtxt",
        },
    )


def _monthly(time_column: str, time_format: str) -> dict:
    return {"time_column": time_column, "time_format": time_format, "period": "month", "origin": "2024-01-01"}


def _write_yaml(directory: Path, dataset: dict) -> Path:
    path = Path(directory) / f"{dataset['name']}.yaml"
    path.write_text(yaml.safe_dump(dataset, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


def write_project(directory: Path, dataset_yaml: Path, **overrides) -> Path:
    """A lifecycle.yaml for the dataset with a short training run (e2e tests check wiring, not
    model quality)."""
    project = {
        "pipeline_name": f"{dataset_yaml.stem}-pipeline",
        "dataset": dataset_yaml.name,
        "work_dir": "work",
        "training": {"train_steps": 300, "eval_steps": 20, "window_spans": 2},
        **overrides,
    }
    path = Path(directory) / "lifecycle.yaml"
    path.write_text(yaml.safe_dump(project, sort_keys=False), encoding="utf-8")
    return path
