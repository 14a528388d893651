"""The ML Metadata store: opening it from the config (connection) and typed queries over it."""
