"""The TFX pipeline, `ml_lifecycle.pipeline`: create_pipeline(config, span), wired once, with
runners/ (local, Kubeflow v2) beside it.

This folder sits at the repository root but is installed as `ml_lifecycle.pipeline`
(setup.py's package_dir); imported under its folder name it would be a second copy of every
module, so that is refused here.
"""

if __name__ != "ml_lifecycle.pipeline":
    raise ImportError(
        f"pipeline/ is the package ml_lifecycle.pipeline; import it by that name, not as {__name__!r}"
    )
