"""Output: run directories, streaming netCDF writers."""
