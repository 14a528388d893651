"""Runners: where and how a pipeline built by create_pipeline runs."""
