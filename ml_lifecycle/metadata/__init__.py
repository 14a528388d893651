"""Reading ML Metadata: the one module the CLI, notebooks and tests use to query runs and lineage."""
