"""The `lifecycle` command: thin; parses flags, calls the packages, prints results."""
