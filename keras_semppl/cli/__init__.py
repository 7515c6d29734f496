"""Command line: `semppl train`, `semppl evaluate`, `semppl plot`."""
