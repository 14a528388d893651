"""Custom TFX components, `ml_lifecycle.components`: each a pure core plus a thin TFX wrapper.

This folder sits at the repository root but is installed as `ml_lifecycle.components`
(setup.py's package_dir); imported under its folder name it would be a second copy of every
module (two DriftReport classes, two MLMD types), so that is refused here.
"""

if __name__ != "ml_lifecycle.components":
    raise ImportError(
        f"components/ is the package ml_lifecycle.components; import it by that name, not as {__name__!r}"
    )
