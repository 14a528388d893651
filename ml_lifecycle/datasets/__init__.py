"""Datasets: typed dataset configs (YAML) and the code that turns a source CSV into spans."""
