"""Local validation: an evaluation spec and data in, a result document with a verdict out."""
