"""The HTTP side: routes and their handlers (`ServingApi`), request limits, and the process that
owns the models, the watcher and the background workers (`ModelServer`). No model code here."""
