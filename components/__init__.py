"""Custom TFX components: each a pure core plus a thin TFX wrapper."""
