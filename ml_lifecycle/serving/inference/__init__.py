"""Model versions and the calls into them: the repository and its version policy, loading and
warmup, the request batcher, and the one tf.Example <-> row codec. No HTTP and no JSON here."""
