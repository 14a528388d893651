"""The serving e2e tests' project: their own copy of the versions the pipeline tests pushed."""

from __future__ import annotations

from pathlib import Path


def serving_project(taxi_config, work: Path, serving) -> tuple[object, list[int]]:
    """A project config serving a copy of the first two pushed versions from `work/serving` (so
    pushes a test makes do not leak into the pipeline tests) with `serving`; and those versions."""
    import shutil

    model = taxi_config.serving_model_name
    source = taxi_config.serving_root_path / model
    versions = sorted(int(p.name) for p in source.iterdir() if p.name.isdigit())[:2]
    for version in versions:
        shutil.copytree(source / str(version), work / "serving" / model / str(version))
    config = taxi_config.model_copy(
        update={
            "work_dir": str(work),
            "serving_root": str(work / "serving"),
            "data_root": str(taxi_config.data_root_path),
            "serving": serving,
        }
    )
    return config, versions
