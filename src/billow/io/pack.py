"""``billow pack``: a run directory as one self-contained netCDF-4 file, for sharing.

``fields.nc`` and ``diagnostics.nc`` of a run directory hold no data of their own (their
variables are virtual datasets over ``segments/``). The packed file holds it all:

- the root group: the snapshots of ``fields.nc`` (time, z, x), with its coordinates and
  global attributes, plus the run's ``config.toml`` as the attribute ``config``;
- the group ``diagnostics``: the per-step series of ``diagnostics.nc``;
- the group ``tracer_diagnostics`` (runs with a dye): the series of
  ``tracer_diagnostics.nc``, every ``diagnostics_every`` steps.

Data are copied a block of records at a time (bounded memory) into gzip-compressed
chunked datasets. ``xarray.open_dataset(path)`` reads the fields,
``xarray.open_dataset(path, group="diagnostics")`` the diagnostics, and
``billow.open_run(path, which)`` any of them.
"""

from __future__ import annotations

import os
from pathlib import Path

import h5py
import numpy as np

from ..errors import BillowError
from .atomic import atomic_path, check_output_file
from .netcdf import check_segments

BLOCK_BYTES = 64 * 2**20  # records copied at once
DIMENSION_ATTRIBUTES = ("CLASS", "NAME", "REFERENCE_LIST", "DIMENSION_LIST", "_Netcdf4Dimid")


def _copy_series(source: h5py.File, target: h5py.Group) -> None:
    """Every dataset of an index file, its data read through the virtual datasets."""
    target.attrs.update(dict(source.attrs))
    scales: dict[str, h5py.Dataset] = {}
    variables: dict[str, tuple[h5py.Dataset, list[str]]] = {}
    for name, dataset in source.items():
        if dataset.is_scale:
            scales[name] = dataset
        else:
            dims = [dim[0].name.rsplit("/", 1)[-1] if len(dim) else "" for dim in dataset.dims]
            variables[name] = (dataset, dims)
    copied: dict[str, h5py.Dataset] = {}
    for name, dataset in scales.items():
        maxshape = (None,) if name == "time" else None
        copy = target.create_dataset(name, data=dataset[...], maxshape=maxshape)
        copy.attrs.update({k: v for k, v in dataset.attrs.items() if k not in DIMENSION_ATTRIBUTES})
        copy.make_scale(name)
        copied[name] = copy
    for name, (dataset, dims) in variables.items():
        shape = dataset.shape
        record = int(np.prod(shape[1:], dtype=np.int64)) * dataset.dtype.itemsize
        block = max(1, BLOCK_BYTES // max(record, 1))
        chunks = (1, *shape[1:]) if len(shape) > 1 else (min(max(shape[0], 1), 4096),)
        copy = target.create_dataset(
            name, shape, dataset.dtype, chunks=chunks, compression="gzip", shuffle=True
        )
        for start in range(0, shape[0], block):
            copy[start : start + block] = dataset[start : start + block]
        copy.attrs.update({k: v for k, v in dataset.attrs.items() if k not in DIMENSION_ATTRIBUTES})
        for axis, dim in enumerate(dims):
            if dim in copied:
                copy.dims[axis].attach_scale(copied[dim])


def default_pack_path(run_dir: Path) -> Path:
    """``runs/kh`` -> ``runs/kh.nc`` (beside the run directory)."""
    run_dir = Path(run_dir).absolute()
    return run_dir.parent / f"{run_dir.name}.nc"


def pack_run(
    run_dir: str | Path, out: str | Path | None = None, *, overwrite: bool = False
) -> Path:
    """Write the run ``run_dir`` as one self-contained netCDF-4 file ``out`` (default
    ``<run_dir>.nc`` beside it); written under a temporary name, then renamed."""
    run_dir = Path(run_dir)
    for name in ("fields.nc", "diagnostics.nc"):
        if not (run_dir / name).is_file():
            raise BillowError(f"no {name} in {run_dir}: not a billow run directory")
        check_segments(run_dir / name)
    tracers = run_dir / "tracer_diagnostics.nc"  # runs with a dye
    if tracers.is_file():
        check_segments(tracers)
    out = Path(out) if out is not None else default_pack_path(run_dir)
    check_output_file(out, overwrite)
    config = run_dir / "config.toml"
    try:
        with atomic_path(out) as temporary, h5py.File(temporary, "w") as packed:
            with h5py.File(run_dir / "fields.nc", "r") as fields:
                _copy_series(fields, packed)
            with h5py.File(run_dir / "diagnostics.nc", "r") as diagnostics:
                _copy_series(diagnostics, packed.create_group("diagnostics"))
            if tracers.is_file():
                with h5py.File(tracers, "r") as series:
                    _copy_series(series, packed.create_group("tracer_diagnostics"))
            if config.is_file():
                packed.attrs["config"] = config.read_text()
    except OSError as error:
        reason = os.strerror(error.errno) if error.errno else str(error).splitlines()[0]
        raise BillowError(f"cannot write '{out}': {reason}") from None
    return out
