"""Typed configuration, parsed once: every section of the project YAML and every default, in one place."""
