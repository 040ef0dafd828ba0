"""``billow export``: one run directory as an ML-ready HDF5 file (The Well or PDEBench).

The file is written under a temporary name beside ``out`` and renamed over it only
when complete, so an interrupted or failed export leaves nothing half written.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path

from ..errors import BillowError, ConfigError
from ..io.atomic import atomic_path, check_output_file
from .pdebench import write_pdebench
from .samples import RunSamples, sample_run
from .well import write_well

FORMATS: dict[str, Callable[[Path, RunSamples], Path]] = {
    "well": lambda path, run: write_well(path, [run], f"billow_{run.case}"),
    "pdebench": write_pdebench,
}


def export_run(
    run_dir: str | Path,
    format: str,
    out: str | Path,
    *,
    dt_out: float | None = None,
    fields: Sequence[str] | None = None,
    overwrite: bool = False,
) -> Path:
    """Write the run ``run_dir`` as ``format`` ("well" or "pdebench") to the file ``out``.

    Snapshots every ``dt_out`` (a multiple of the run's ``save_every``; default every
    snapshot on that interval) and the billow fields ``fields`` (default: all but the
    derived vorticity). An existing ``out`` is replaced only with ``overwrite``.
    """
    if format not in FORMATS:
        raise ConfigError(f"unknown format '{format}' (choose {' or '.join(FORMATS)})")
    out = Path(out)
    check_output_file(out, overwrite)
    run = sample_run(run_dir, dt_out=dt_out, fields=fields)
    try:
        with atomic_path(out) as temporary:
            FORMATS[format](temporary, run)
    except OSError as error:
        reason = os.strerror(error.errno) if error.errno else str(error).splitlines()[0]
        raise BillowError(f"cannot write '{out}': {reason}") from None
    return out
