"""Tests of local validation: the spec, the criteria and verdict, the result and its report."""
