"""The neutral base every layer may use: error types and shared names (contracts).

It imports nothing of the project.
"""
