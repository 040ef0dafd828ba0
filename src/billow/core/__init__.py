"""The numerical core: grid, operators, advection, Poisson solver, model, forcing,
time stepping and online diagnostics.

Nothing here imports from the layers above it (simulation, cases, io, analysis, ...);
``tests/test_layers.py`` checks this. See ``docs/architecture.md``.
"""
