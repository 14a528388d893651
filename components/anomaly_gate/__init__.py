"""Stops a run before Transform and Trainer when the data has anomalies or lost rows."""
