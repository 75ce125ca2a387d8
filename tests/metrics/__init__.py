"""Tests of the metrics computed from score cubes."""
