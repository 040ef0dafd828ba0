"""``billow dataset``: simulate a dataset spec's trajectories and write the dataset.

The spec and its parsing are in :mod:`billow.ml.spec`; this module runs the trajectories
as members of a sweep in ``DIR/runs`` (Dask; finished members are skipped, interrupted
ones continued), then writes one Well file per split and parameter point
(``DIR/data/{train,valid,test}/<name>[_<point>].hdf5``), ``DIR/stats.yaml`` (the
statistics of the training split) and ``DIR/README.md`` (the dataset card,
:mod:`billow.ml.card`).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from ..io.atomic import atomic_path, write_text_atomically
from ..io.lock import lock_directory
from ..sweep import MEMBERS, Member, claim_output, raise_failures, run_members
from .card import dataset_card
from .samples import sample_run
from .spec import DATA, RUNS, SPEC_FILE, SPLITS, DatasetSpec, load_dataset_spec
from .well import field_statistics, stats_yaml, write_well


def data_files(spec: DatasetSpec, out: Path) -> dict[str, list[tuple[Path, list[Member]]]]:
    """Per split: each data file with the members (trajectories, by seed) it holds."""
    splits = spec.splits()
    files: dict[str, list[tuple[Path, list[Member]]]] = {split: [] for split in SPLITS}
    for split, names in splits.items():
        for point in spec.points:
            members = [m for m in point.members if m.name in names]
            if members:
                files[split].append((out / DATA / split / f"{point.stem}.hdf5", members))
    return files


def make_dataset(
    spec: DatasetSpec | str | Path,
    out: str | Path,
    *,
    scheduler: str | None = None,
    n_workers: int | None = None,
    progress: Callable[[int, int], None] | None = None,
    force: bool = False,
) -> Path:
    """Simulate every trajectory of ``spec`` (resumable) and write the dataset to ``out``:
    data/{train,valid,test}/*.hdf5, stats.yaml and README.md. Returns ``out``.

    ``scheduler``, ``n_workers``, ``progress`` and ``force`` are those of
    :func:`billow.sweep.run_sweep`; ``out`` is locked against other writers meanwhile.
    Data files already written are kept; a failed trajectory raises a BillowError before
    any data file is written.
    """
    if not isinstance(spec, DatasetSpec):
        spec = load_dataset_spec(spec)
    out = Path(out)
    claim_output(out, spec.source, SPEC_FILE, "dataset")
    with lock_directory(out):
        _make_dataset(spec, out, scheduler, n_workers, progress, force)
    return out


def _make_dataset(spec, out, scheduler, n_workers, progress, force) -> None:
    runs = out / RUNS
    results = run_members(
        spec.sweep, runs, scheduler=scheduler, n_workers=n_workers, progress=progress, force=force
    )
    raise_failures(results, "trajectories")
    files = data_files(spec, out)
    for split, entries in files.items():
        (out / DATA / split).mkdir(parents=True, exist_ok=True)
        for path, members in entries:
            if path.exists():
                continue
            samples = [
                sample_run(
                    runs / MEMBERS / m.name,
                    dt_out=spec.dt,
                    fields=spec.fields,
                    spin_up=spec.spin_up,
                )
                for m in sorted(members, key=lambda m: m.params.seed)
            ]
            with atomic_path(path) as temporary:
                write_well(temporary, samples, spec.name)
    stats = field_statistics(path for path, _ in files["train"])
    write_text_atomically(out / "stats.yaml", stats_yaml(stats))
    write_text_atomically(out / "README.md", dataset_card(spec, files, out))
