"""A TF Serving-compatible HTTP model server with rollouts, human review, prediction logs and metrics.

A request is decoded (`protocol`), run (`inference`), encoded (`protocol`), with `observability`
hooks after the response; `http` routes it. `router` holds the rollout state, `review` the human
review queue. Layers import downwards only: http > observability > protocol > inference.
"""
