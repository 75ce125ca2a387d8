"""Tests of the score cube builder and its data sources."""
