"""Importing any `ml_lifecycle` module selects Keras 2 before TensorFlow loads Keras: the CLI,
notebooks, benchmarks and tests all get it without setting anything themselves."""

from __future__ import annotations

import os
import subprocess
import sys


def _fresh_python(code: str) -> str:
    env = {k: v for k, v in os.environ.items() if k != "TF_USE_LEGACY_KERAS"}
    env["TF_CPP_MIN_LOG_LEVEL"] = "3"
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300, check=True
    )
    return done.stdout.strip().splitlines()[-1]


def test_a_notebook_importing_the_metadata_api_first_trains_with_tf_keras():
    code = (
        "import ml_lifecycle.metadata.client\nimport tensorflow as tf\nprint(tf.keras.__name__.split('.')[0])"
    )
    assert _fresh_python(code) == "tf_keras"


def test_an_explicit_choice_in_the_environment_is_kept():
    code = (
        "import os\n"
        "os.environ['TF_USE_LEGACY_KERAS'] = '0'\n"
        "import ml_lifecycle\n"
        "print(os.environ['TF_USE_LEGACY_KERAS'])"
    )
    assert _fresh_python(code) == "0"
