"""The ``steward`` command line: a thin shell over the capabilities."""
