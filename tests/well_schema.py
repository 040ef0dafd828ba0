"""A check of The Well's HDF5 layout, written from its documentation (PolymathicAI/the_well,
docs/data_format.md) and the attributes its loader reads (the_well.data.WellDataset):
every group and attribute, dtypes, shapes and boundary-condition masks."""

from __future__ import annotations

import h5py
import numpy as np

GROUPS = {"dimensions", "boundary_conditions", "scalars", "t0_fields", "t1_fields", "t2_fields"}
BC_TYPES = {"PERIODIC", "WALL", "OPEN"}


def strings(values) -> list[str]:
    return [v.decode() if isinstance(v, bytes) else str(v) for v in values]


def check_well_file(path, bc_z: str) -> dict:
    """Assert that ``path`` follows The Well's layout for a 2-D x-z run with ``bc_z``
    boundaries; returns a summary (sizes and field names) for further checks."""
    with h5py.File(path, "r") as f:
        assert GROUPS <= set(f), f"missing groups {GROUPS - set(f)}"
        root = f.attrs
        assert isinstance(root["dataset_name"], str) and root["dataset_name"]
        assert root["grid_type"] == "cartesian"
        assert root["n_spatial_dims"] == 2
        n_trajectories = int(root["n_trajectories"])
        assert n_trajectories >= 1
        parameters = strings(root["simulation_parameters"])
        for name in parameters:
            assert name in root, f"simulation parameter {name} is not a root attribute"

        dims = f["dimensions"]
        spatial = strings(dims.attrs["spatial_dims"])
        assert spatial == ["x", "z"]
        sizes = {}
        for name in ["time", *spatial]:
            coordinate = dims[name]
            assert coordinate.dtype == np.float32 and coordinate.ndim == 1, name
            assert coordinate.attrs["sample_varying"] == False  # noqa: E712 - numpy bool
            sizes[name] = coordinate.shape[0]
        for name in spatial:
            assert dims[name].attrs["time_varying"] == False  # noqa: E712
        assert np.all(np.diff(dims["time"][:]) > 0), "time must increase"

        types = {}
        for name, boundary in f["boundary_conditions"].items():
            assert boundary.attrs["bc_type"] in BC_TYPES, name
            associated = strings(boundary.attrs["associated_dims"])
            assert len(associated) == 1 and associated[0] in spatial, name
            assert isinstance(strings(boundary.attrs["associated_fields"]), list)
            for flag in ("sample_varying", "time_varying"):
                assert boundary.attrs[flag] == False, (name, flag)  # noqa: E712
            mask = boundary["mask"][:]
            assert mask.dtype == bool and mask.shape == (sizes[associated[0]],), name
            assert mask[0] and mask[-1] and not mask[1:-1].any(), name
            types[associated[0]] = boundary.attrs["bc_type"]
        assert types == {"x": "PERIODIC", "z": "PERIODIC" if bc_z == "periodic" else "WALL"}

        scalars = f["scalars"]
        scalar_names = strings(scalars.attrs["field_names"])
        assert set(scalar_names) == set(scalars) == set(parameters)
        for name in scalar_names:
            scalar = scalars[name]
            assert scalar.dtype == np.float32 and scalar.shape == (), name
            assert scalar.attrs["sample_varying"] == False  # noqa: E712
            assert scalar.attrs["time_varying"] == False  # noqa: E712
            assert scalar[()] == np.float32(root[name]), name

        fields = {}
        for order in range(3):
            group = f[f"t{order}_fields"]
            names = strings(group.attrs["field_names"])
            assert set(names) == set(group), f"t{order}_fields: field_names != datasets"
            for name in names:
                data = group[name]
                shape = (n_trajectories, sizes["time"], sizes["x"], sizes["z"]) + (2,) * order
                assert data.dtype == np.float32 and data.shape == shape, (name, data.shape)
                assert list(data.attrs["dim_varying"]) == [True, True], name
                assert data.attrs["sample_varying"] == True, name  # noqa: E712
                assert data.attrs["time_varying"] == True, name  # noqa: E712
            fields[order] = names
        assert fields[2] == []
    return {"n_trajectories": n_trajectories, "sizes": sizes, "fields": fields}
