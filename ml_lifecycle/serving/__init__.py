"""A TF Serving-compatible HTTP model server with rollouts, human review, prediction logs and metrics,
on uvicorn with a worker process per core and an authenticated admin listener (`http.workers`).

A request is decoded (`protocol`), run (`inference`), encoded (`protocol`), with `observability`
hooks after the response; `http` routes it. What a model predicts (binary, multiclass,
regression) is its model description, read when a version loads: it decides the methods the
version answers and how its outputs read (`inference.answers`). `router` holds the rollout
state (one file the workers share), `review_rule` which predictions people review, `review`
the human review queue. Layers import downwards only: http > observability > protocol >
inference.
"""
