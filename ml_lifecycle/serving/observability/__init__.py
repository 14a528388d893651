"""What the server records about the requests it answers: metrics and alerts (`Monitor`), prediction
logs, and the hooks that feed them (and the review queue and shadow copies) after a response."""
