"""Pusher whose model versions never collide, even when two runs push in the same second."""
