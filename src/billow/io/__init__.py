"""Run directories on disk: atomic writes, the directory lock, run directories and
:func:`~billow.io.rundir.open_run`, the segmented netCDF writers, checkpoints, and pack."""
