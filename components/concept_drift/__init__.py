"""Concept drift: the pushed model's quality on a new labelled span vs at its blessing."""
