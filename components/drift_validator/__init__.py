"""Compares a span's statistics with a baseline span's and flags the features whose distribution drifted."""
