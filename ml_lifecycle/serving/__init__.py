"""A TF Serving-compatible HTTP model server with rollouts, human review, prediction logs and metrics."""
