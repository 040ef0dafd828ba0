"""Small runs of every case, stored bitwise as the reference that refactorings must keep.

    python tests/reference_runs.py      # rewrites tests/data/reference_runs.npz

Regenerate only for a change that is meant to alter results (a new scheme, a new
default), and say in the commit which difference was accepted and why.

The runs use scipy.fft's transforms (``BILLOW_FFT=scipy``), whose results are the same
on every x86-64 machine, so that the transforms add no dependence on the processor;
FFTW picks its code for the processor, so its last bits may differ from one machine
to another (``tests/test_numerics.py`` checks that it gives the same solutions to
round-off). Other libraries do pick code for the processor: OpenBLAS's kernels (the
LAPACK eigensolve of the eigenmode perturbation: its last bits, 1.6e-11 of max|b| at
t = 0 between a Zen 3 and a Zen 5 machine), numpy's SIMD loops and numba's target. So
the file records the machine it was made on (:func:`machine`); on another, the test
compares to round-off instead of bitwise.
"""

from __future__ import annotations

import importlib.metadata
import os
import tempfile
from contextlib import contextmanager
from pathlib import Path

import llvmlite.binding
import numpy as np
import scipy
import threadpoolctl

import billow
from billow.cases import CASES

REFERENCE = Path(__file__).parent / "data" / "reference_runs.npz"
MACHINE = "machine"  # the key of machine() in the reference file
# Every case on a tiny grid with broadband noise, so that every term of every equation
# (advection, diffusion, buoyancy, rotation, forcing) touches the stored numbers.
SETTINGS = dict(nx=16, nz=16, t_end=1.0, save_every=0.5, noise=1e-2, seed=3, diagnostics_every=2)
CASE_SETTINGS = {
    "shear_layer": dict(Lx=14.0),
    "double_shear": dict(Lx=14.0),
    "rotating": dict(Lx=14.0),
    "forced": dict(Lx=14.0),
    "kolmogorov": dict(t_end=2.0, save_every=1.0),
    "lecoanet2016": dict(t_end=0.1, save_every=0.05),
}


@contextmanager
def scipy_transforms():
    """Within the block, new Poisson solvers use scipy.fft (BILLOW_FFT=scipy)."""
    before = os.environ.get("BILLOW_FFT")
    os.environ["BILLOW_FFT"] = "scipy"
    try:
        yield
    finally:
        if before is None:
            del os.environ["BILLOW_FFT"]
        else:
            os.environ["BILLOW_FFT"] = before


def machine() -> str:
    """What chooses the code that computes a run: the processor (numba's target), numpy's
    SIMD features, the BLAS and its kernels, and the versions of numpy, scipy and numba."""
    features = getattr(np._core._multiarray_umath, "__cpu_features__", {})
    blas = [
        f"{info['internal_api']} {info.get('architecture')} {info['version']}"
        for info in threadpoolctl.threadpool_info()
        if info["user_api"] == "blas"
    ]
    return "; ".join(
        [
            f"cpu {llvmlite.binding.get_host_cpu_name()}",
            f"numpy {np.__version__} " + " ".join(sorted(k for k, on in features.items() if on)),
            f"scipy {scipy.__version__}",
            f"numba {importlib.metadata.version('numba')}",
            *sorted(blas),  # in the order loaded otherwise
        ]
    )


def run_outputs(name: str) -> dict[str, np.ndarray]:
    """Every variable of fields.nc, diagnostics.nc and tracer_diagnostics.nc (if the case
    has a dye) of the case's small run (scipy.fft's transforms)."""
    values = {**SETTINGS, **CASE_SETTINGS[name]}
    with tempfile.TemporaryDirectory() as directory, scipy_transforms():
        run = Path(directory) / "run"
        billow.run(name, out=run, **values)
        outputs = {}
        for which in ("fields", "diagnostics", "tracer_diagnostics"):
            if not (run / f"{which}.nc").is_file():
                continue
            with billow.open_run(run, which) as dataset:
                for variable in dataset.variables:
                    outputs[f"{name}/{which}/{variable}"] = dataset[variable].values.copy()
    return outputs


def main() -> None:
    outputs = {}
    for name in CASES:
        outputs.update(run_outputs(name))
    REFERENCE.parent.mkdir(exist_ok=True)
    np.savez_compressed(REFERENCE, **outputs, **{MACHINE: np.array(machine())})
    print(f"wrote {len(outputs)} arrays to {REFERENCE}")


if __name__ == "__main__":
    main()
