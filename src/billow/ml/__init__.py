"""Training data for neural PDE solvers: dataset specs and their build, the dataset card,
The Well and PDEBench writers, sampling of run directories, and a numpy reader."""
