"""Installs the `ml_lifecycle` package and the `lifecycle` console script.

One import namespace, `ml_lifecycle`, from two kinds of folder: `ml_lifecycle/` holds most
areas, while `pipeline/` and `components/` stay at the repository root (where a TFX user
looks for them) and `package_dir` maps them to `ml_lifecycle.pipeline` and
`ml_lifecycle.components`. The README's Layout section says why this mechanism.

Dependencies are pinned in requirements.lock (installed by `make setup`), not here:
the TFX stack only resolves as one locked set.
"""

from setuptools import find_packages, setup

ROOT_AREAS = ("pipeline", "components")


def _packages() -> tuple[list[str], dict[str, str]]:
    packages = find_packages(include=["ml_lifecycle", "ml_lifecycle.*"])
    package_dir = {"ml_lifecycle": "ml_lifecycle"}
    for area in ROOT_AREAS:
        package_dir[f"ml_lifecycle.{area}"] = area
        packages += [f"ml_lifecycle.{name}" for name in find_packages(include=[area, f"{area}.*"])]
    return sorted(packages), package_dir


PACKAGES, PACKAGE_DIR = _packages()

setup(
    name="ml-lifecycle",
    version="0.1.0",
    description="A production-grade TFX pipeline kit for the whole ML project lifecycle.",
    python_requires=">=3.10,<3.11",
    packages=PACKAGES,
    package_dir=PACKAGE_DIR,
    package_data={"ml_lifecycle.serving.observability": ["dashboards/*.json"]},
    entry_points={"console_scripts": ["lifecycle=ml_lifecycle.cli.main:entry_point"]},
)
