"""Compatibility with other solvers' inputs: kh2d-solver configurations (:mod:`.kh2d`)."""
