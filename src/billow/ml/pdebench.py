"""PDEBench-style HDF5 (the layout of PDEBench's 2-D CFD files), written with h5py.

PDEBench's 2-D CFD files hold root datasets ``density``, ``pressure``, ``Vx``, ``Vy`` of
shape (sample, t, x, y) in float32, the coordinates ``x-coordinate``, ``y-coordinate``
and ``t-coordinate``, and the parameters as root attributes. billow's x-z plane is
written in those names, with y standing for billow's vertical z:

- ``Vx`` = u, ``Vy`` = w (the vertical velocity);
- ``density`` = -b, the Boussinesq density anomaly g rho' d / (rho0 U0^2);
- ``pressure`` = p where the run stored it; other fields (``c``, ``v``,
  ``vorticity``) keep billow's names;
- ``t-coordinate`` holds the snapshot times, one per stored step;
- root attributes: every parameter, and ``config``, the run's config.toml (PDEBench's
  generators store their YAML configuration under that name).
"""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np

from ..config import attribute_value
from .samples import RunSamples

PDEBENCH_NAMES = {"u": "Vx", "w": "Vy", "b": "density", "p": "pressure"}
SIGNS = {"b": -1.0}  # density anomaly = -buoyancy
LAYOUT = (
    "arrays (sample, t, x, y) with y = billow's vertical z; Vx = u, Vy = w, "
    "density = -b (g rho' d / (rho0 U0^2)); other fields keep billow's names"
)


def write_pdebench(path: str | Path, run: RunSamples) -> Path:
    """Write one run (one sample) in PDEBench's 2-D CFD layout."""
    nx, nz, n_times = run.x.size, run.z.size, run.times.size
    with h5py.File(path, "w") as out:
        arrays = {
            name: out.create_dataset(
                PDEBENCH_NAMES.get(name, name),
                (1, n_times, nx, nz),
                np.float32,
                chunks=(1, 1, nx, nz),
            )
            for name in run.fields
        }
        for start, block in run.blocks():
            for name, array in arrays.items():
                values = SIGNS.get(name, 1.0) * block[name].transpose(0, 2, 1)
                array[0, start : start + values.shape[0]] = values
        out.create_dataset("x-coordinate", data=run.x.astype(np.float32))
        out.create_dataset("y-coordinate", data=run.z.astype(np.float32))
        out.create_dataset("t-coordinate", data=run.times.astype(np.float32))
        for key, value in run.params.model_dump().items():
            if value is not None:
                out.attrs[key] = attribute_value(value)
        out.attrs["case"] = run.case
        out.attrs["config"] = (run.run_dir / "config.toml").read_text()
        out.attrs["layout"] = LAYOUT
    return Path(path)
