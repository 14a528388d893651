"""The user code TFX loads by dotted path: features, Transform's preprocessing_fn, Trainer's run_fn."""
