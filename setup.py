"""Installs the ml-lifecycle packages and the `lifecycle` console script.

Dependencies are pinned in requirements.lock (installed by `make setup`), not here:
the TFX stack only resolves as one locked set.
"""

from setuptools import find_packages, setup

setup(
    name="ml-lifecycle",
    version="0.1.0",
    description="A production-grade TFX pipeline kit for the whole ML project lifecycle.",
    python_requires=">=3.9,<3.11",
    packages=find_packages(
        include=[
            "datasets*",
            "pipeline*",
            "components*",
            "models*",
            "lifecycle*",
            "metadata*",
            "reports*",
            "serving*",
        ]
    ),
    package_data={"": ["*.yaml", "*.pbtxt"]},
    include_package_data=True,
    entry_points={"console_scripts": ["lifecycle=lifecycle.cli:entry_point"]},
)
