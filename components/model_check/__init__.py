"""Checks the trained SavedModel can serve, and stamps it with TF Serving warmup requests."""
