"""Resolves the baseline model: the latest blessed model trained on a different span."""
