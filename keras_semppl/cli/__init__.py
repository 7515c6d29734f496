"""Command line: `semppl train`."""
