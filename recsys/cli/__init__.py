"""The `recsys` command line: thin commands over library functions."""
