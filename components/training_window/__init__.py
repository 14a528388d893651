"""Resolves the training window: the Examples of the last `training.window_spans` spans up to the
current one, which Transform and Trainer read instead of the current span alone."""
