"""Packaging tier: the wheel of this checkout installs one import name, `ml_lifecycle` (with the
repo-root pipeline/ and components/ inside it), and the `lifecycle` command; and our names
neither shadow nor are shadowed by a third-party package, even run from the repository root."""

from __future__ import annotations

import configparser
import json
import os
import shutil
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
# What setup.py builds from; copied so setuptools' build/ and egg-info never land in the checkout.
BUILD_INPUTS = ("setup.py", "pyproject.toml", "ml_lifecycle", "pipeline", "components")


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> zipfile.ZipFile:
    stage = tmp_path_factory.mktemp("wheel")
    source = stage / "src"
    source.mkdir()
    for name in BUILD_INPUTS:
        path = REPO_ROOT / name
        if path.is_dir():
            shutil.copytree(path, source / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            shutil.copy2(path, source / name)
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--quiet",
            "--disable-pip-version-check",
            "--no-deps",
            "--no-build-isolation",  # the venv's setuptools, offline
            "-w",
            str(stage / "dist"),
            str(source),
        ],
        check=True,
        capture_output=True,
        timeout=300,
    )
    [built] = (stage / "dist").glob("ml_lifecycle-*.whl")
    with zipfile.ZipFile(built) as archive:
        yield archive


def _dist_info_file(wheel: zipfile.ZipFile, name: str) -> str | None:
    matches = [n for n in wheel.namelist() if n.endswith(f".dist-info/{name}")]
    return wheel.read(matches[0]).decode() if matches else None


def test_the_wheel_installs_one_top_level_import_name(wheel):
    top_level = {
        name.split("/", 1)[0]
        for name in wheel.namelist()
        if not name.split("/", 1)[0].endswith((".dist-info", ".data"))
    }

    assert top_level == {"ml_lifecycle"}
    declared = _dist_info_file(wheel, "top_level.txt")
    if declared is not None:
        assert set(declared.split()) == {"ml_lifecycle"}


def test_the_root_folders_are_packaged_inside_ml_lifecycle(wheel):
    names = set(wheel.namelist())

    assert "ml_lifecycle/pipeline/pipeline.py" in names
    assert "ml_lifecycle/pipeline/__init__.py" in names
    assert "ml_lifecycle/components/__init__.py" in names
    assert "ml_lifecycle/components/baseline_resolver/core.py" in names
    assert "ml_lifecycle/components/model_check/core.py" in names
    # The Grafana dashboard ships as package data.
    assert "ml_lifecycle/serving/observability/dashboards/serving.json" in names
    assert not any(name.startswith(("pipeline/", "components/")) for name in names)


def test_the_lifecycle_command_runs_the_cli_entry_point(wheel):
    entry_points = configparser.ConfigParser()
    entry_points.read_string(_dist_info_file(wheel, "entry_points.txt") or "")

    assert dict(entry_points["console_scripts"]) == {"lifecycle": "ml_lifecycle.cli.main:entry_point"}


# --- import names, in a fresh interpreter started from the repository root --------------------


def _python_at_repo_root(code: str, pythonpath: Path | None = None) -> dict:
    """Runs `code` in a new interpreter whose cwd (first on sys.path) is the repo root; the code
    prints one JSON object, returned here."""
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    env.pop("PYTHONPATH", None)
    if pythonpath is not None:
        env["PYTHONPATH"] = str(pythonpath)
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.fixture
def third_party_datasets(tmp_path) -> Path:
    """A directory holding a stand-in for a third-party top-level `datasets` package."""
    (tmp_path / "datasets").mkdir()
    (tmp_path / "datasets" / "__init__.py").write_text('MARKER = "third-party"\n')
    return tmp_path


@pytest.mark.parametrize("ours_first", [False, True], ids=["theirs-first", "ours-first"])
def test_a_third_party_datasets_package_and_ours_coexist(third_party_datasets, ours_first):
    imports = ["import datasets", "import ml_lifecycle.datasets.prepare"]
    code = "\n".join(reversed(imports) if ours_first else imports) + textwrap.dedent(
        """
        import json
        import ml_lifecycle.datasets
        print(json.dumps({
            "marker": getattr(datasets, "MARKER", None),
            "theirs": datasets.__file__,
            "ours": ml_lifecycle.datasets.__file__,
            "prepare": ml_lifecycle.datasets.prepare.__file__,
        }))
        """
    )

    found = _python_at_repo_root(code, pythonpath=third_party_datasets)

    assert found["marker"] == "third-party"
    assert Path(found["theirs"]) == third_party_datasets / "datasets" / "__init__.py"
    assert Path(found["ours"]) == REPO_ROOT / "ml_lifecycle" / "datasets" / "__init__.py"
    assert Path(found["prepare"]) == REPO_ROOT / "ml_lifecycle" / "datasets" / "prepare.py"


@pytest.mark.parametrize("folder", ["pipeline", "components"])
def test_a_root_folder_imported_by_its_folder_name_is_refused(folder):
    code = f"""
        import json
        try:
            import {folder}
            refused = None
        except ImportError as error:
            refused = str(error)
        import ml_lifecycle.{folder} as installed
        print(json.dumps({{"refused": refused, "installed": installed.__name__}}))
        """

    found = _python_at_repo_root(code)

    assert found["refused"] == (
        f"{folder}/ is the package ml_lifecycle.{folder}; import it by that name, not as '{folder}'"
    )
    assert found["installed"] == f"ml_lifecycle.{folder}"
