"""The package's layers: every module imports, imports point down only, and no cycle.

The layers, lowest first (docs/architecture.md explains each). A module may import
from its own layer or any layer below it, never above: the numerics never see I/O,
analysis or the command line, and a lower layer never needs an import hidden inside a
function to dodge a cycle.
"""

from __future__ import annotations

import ast
import importlib
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "billow"

LAYERS = (
    ("foundation", ("billow._version", "billow.errors")),
    ("core", ("billow.core",)),  # grid, operators, advection, Poisson, model, stepping, ...
    ("linear", ("billow.linear",)),  # linear stability theory (cases size domains with it)
    ("config", ("billow.config",)),  # run parameters (pydantic)
    (
        "simulation",
        (
            "billow.schedules",
            "billow.callbacks",
            "billow.output_writers",
            "billow.simulation",
            "billow.limits",
            "billow.progress",
        ),
    ),
    ("cases", ("billow.cases",)),
    ("io", ("billow.io",)),  # run directories, netCDF, checkpoints, locks, pack
    # assembles case + simulation + writers; compiles a run's kernels on a second core
    ("runner", ("billow.runner", "billow._compile_ahead")),
    ("viz", ("billow.viz",)),  # figures and movies (matplotlib loaded on use)
    ("analysis", ("billow.analysis",)),
    ("sweep", ("billow.sweep",)),
    ("ml", ("billow.ml",)),
    ("compat", ("billow.compat",)),
    # the user-facing top: the package itself and the CLI
    ("interface", ("billow", "billow.cli")),
)

# Imported inside functions on purpose: optional extras (viz, sweep) or heavy imports
# that `billow run` does not need. Nothing from billow itself belongs here.
DEFERRED_OK = {
    "cmocean",
    "dask",
    "imageio",
    "matplotlib",
    "numba",  # sweep: a worker sets its thread count only when asked
    "pandas",
    "PIL",
    "pyfftw",  # the optional fftw extra, imported with dask.array kept out
    "scipy",  # scipy.stats (~0.4 s) in analysis.kh2d
    "xarray",
}


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}
# Modules that import billow's solver inside functions, on use: a case module's ``build`` and
# ``resolve`` (every module of billow.cases but its helpers, billow.cases.common), so that
# listing the cases and refusing a bad parameter load neither numba nor scipy. Those
# imports still point down a layer and still count as edges in test_no_import_cycle, so
# they can hide no cycle.
SOLVER_ON_USE = {
    module
    for module in MODULES
    if module.startswith("billow.cases.") and module != "billow.cases.common"
}
# the cases' helpers import the linear-stability solver (scipy's interpolation and
# optimisation) only when linear theory's result is not in the disk cache
LINEAR_SOLVER_ON_USE = {("billow.cases.common", "billow.linear.stability")}


def layer(module: str) -> int:
    """Index in LAYERS of the longest prefix naming ``module`` (exact or a package)."""
    best, best_length = None, -1
    for index, (_, members) in enumerate(LAYERS):
        for member in members:
            if (module == member or module.startswith(member + ".")) and len(member) > best_length:
                best, best_length = index, len(member)
    assert best is not None, f"{module} is in no layer: add it to LAYERS in {__file__}"
    return best


def resolve(module: str, node: ast.ImportFrom | ast.Import) -> list[str]:
    """The modules an import statement of ``module`` loads (absolute names)."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    if node.level == 0:
        base = node.module or ""
    else:
        package = module if MODULES[module].name == "__init__.py" else module.rpartition(".")[0]
        parts = package.split(".")
        parts = parts[: len(parts) - node.level + 1]
        base = ".".join(parts + ([node.module] if node.module else []))
    # `from package import submodule` loads the submodule
    return [f"{base}.{a.name}" if f"{base}.{a.name}" in MODULES else base for a in node.names]


def imports(module: str) -> list[tuple[str, bool, int]]:
    """(imported module, at module level?, line) for every import in ``module``."""
    tree = ast.parse(MODULES[module].read_text())
    top: set[int] = set()

    def walk_top(nodes):
        for node in nodes:
            top.add(id(node))
            if isinstance(node, (ast.If, ast.Try)):  # TYPE_CHECKING, try/except ImportError
                walk_top(node.body)
                walk_top(node.orelse)
                for handler in getattr(node, "handlers", []):
                    walk_top(handler.body)

    walk_top(tree.body)
    found = []
    for node in ast.walk(tree):
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            for target in resolve(module, node):
                found.append((target, id(node) in top, node.lineno))
    return found


def type_checking_imports(module: str) -> set[str]:
    """Modules imported only under ``if TYPE_CHECKING:`` (for annotations; never run)."""
    tree = ast.parse(MODULES[module].read_text())
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and getattr(node.test, "id", None) == "TYPE_CHECKING":
            for statement in node.body:
                if isinstance(statement, (ast.Import, ast.ImportFrom)):
                    found.update(resolve(module, statement))
    return found


def internal(target: str) -> bool:
    return target == "billow" or target.startswith("billow.")


@pytest.mark.parametrize("module", sorted(MODULES))
def test_every_module_imports(module):
    importlib.import_module(module)


def test_every_module_is_in_a_layer():
    for module in MODULES:
        layer(module)


def test_imports_point_down_only():
    upward = []
    for module in MODULES:
        for target, _, line in imports(module):
            if internal(target) and layer(target) > layer(module):
                upward.append(
                    f"{MODULES[module].relative_to(PACKAGE.parent)}:{line}: {module} "
                    f"({LAYERS[layer(module)][0]}) imports {target} ({LAYERS[layer(target)][0]})"
                )
    assert not upward, "imports pointing up a layer:\n" + "\n".join(upward)


def test_core_imports_nothing_but_core():
    # the numerics stand alone: grid, operators, model, stepping, diagnostics
    for module in MODULES:
        if layer(module) == layer("billow.core"):
            for target, _, line in imports(module):
                if internal(target):
                    assert layer(target) <= layer("billow.core"), f"{module}:{line} -> {target}"


def test_no_import_cycle():
    # imports under TYPE_CHECKING (annotations of the simulation in its schedules,
    # callbacks and writers) never run, so they cannot form a cycle
    graph = {
        module: {
            t
            for t, _, _ in imports(module)
            if internal(t) and t != module and t not in type_checking_imports(module)
        }
        for module in MODULES
    }
    # a package's __init__ is loaded before its submodules: an import of billow.x.y
    # also runs billow.x and billow
    for edges in graph.values():
        for target in list(edges):
            parts = target.split(".")
            edges.update(".".join(parts[:i]) for i in range(2, len(parts)))
    for module, edges in graph.items():
        edges.discard(module)
        edges.discard(module.rpartition(".")[0])  # a submodule may use its package's names
    visiting, done, cycles = set(), set(), []

    def visit(module, path):
        if module in done:
            return
        if module in visiting:
            cycles.append(" -> ".join(path[path.index(module) :]))
            return
        visiting.add(module)
        for target in sorted(graph.get(module, ())):
            if target != "billow":  # the package root is the top layer (checked above)
                visit(target, path + [target])
        visiting.discard(module)
        done.add(module)

    for module in sorted(graph):
        visit(module, [module])
    assert not cycles, "import cycles:\n" + "\n".join(cycles)


def test_no_billow_import_is_hidden_in_a_function():
    # with the layers straight there is no cycle to dodge: billow's own modules are
    # imported at the top; only optional or heavy third-party packages are deferred. The
    # interface on top (the package's public names, the CLI's commands) imports on first
    # use, for start-up time: nothing imports it, so it can hide no cycle; the case modules
    # import the solver in build and resolve (SOLVER_ON_USE), and their helpers the linear
    # solver where nothing is cached (LINEAR_SOLVER_ON_USE)
    hidden = []
    for module in MODULES:
        if layer(module) == len(LAYERS) - 1 or module in SOLVER_ON_USE:
            continue
        for target, at_top, line in imports(module):
            if at_top or (module, target) in LINEAR_SOLVER_ON_USE:
                continue
            if internal(target) or target.split(".")[0] not in DEFERRED_OK:
                hidden.append(f"{module}:{line}: {target}")
    assert not hidden, "imports inside functions:\n" + "\n".join(hidden)


def test_old_import_paths_still_work():
    import billow
    import billow.datasets
    import billow.linear.stability
    import billow.ml.readers
    import billow.stability
    from billow.datasets import WellWindows
    from billow.stability import growth_rate_curve

    assert billow.stability is billow.linear.stability  # one module under two names
    assert billow.datasets is billow.ml.readers
    assert growth_rate_curve is billow.linear.stability.growth_rate_curve
    assert WellWindows is billow.ml.readers.WellWindows
    for name in ("open_run", "run", "run_case", "get_case", "Model", "Simulation", "Grid"):
        assert callable(getattr(billow, name)), name
    for name in billow.__all__:  # each public name, imported on first use, resolves
        assert getattr(billow, name) is not None, name
    assert set(dir(billow)) >= set(billow.__all__)


def loaded_by(statement: str, modules: tuple[str, ...]) -> list[str]:
    """Which of ``modules`` a fresh interpreter has loaded after ``statement``."""
    code = f"import sys; {statement}; print(' '.join(m for m in {modules!r} if m in sys.modules))"
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.split()


HEAVY = ("xarray", "matplotlib", "dask", "distributed", "pandas", "scipy.stats", "imageio")
SOLVER = ("numba", "scipy", "h5py", "pydantic", "numpy")


def test_command_line_start_up_stays_light():
    # `billow --help` (and every command before its own imports) loads no solver: numba,
    # scipy, h5py, pydantic and numpy come with the command that uses them
    assert loaded_by("import billow.cli", HEAVY + SOLVER) == []
    assert loaded_by("import billow", HEAVY + SOLVER) == []


def test_commands_load_only_what_they_use():
    # `billow run` imports the solver but no analysis or plotting; `billow movie` reads
    # HDF5 with numpy and needs neither numba, scipy nor pydantic
    assert loaded_by("import billow.runner", HEAVY + ("PIL", "cmocean")) == []
    assert loaded_by("import billow.viz.movie", HEAVY + ("numba", "scipy", "pydantic")) == []
    # `billow cases`, and a parameter refused before any solve, load no solver either
    validate = "from billow.cases import CASES; [c.params() for c in CASES.values()]"
    assert loaded_by(validate, HEAVY + ("numba", "scipy", "h5py")) == []
    assert loaded_by("from billow.viz import missing_viz; missing_viz()", HEAVY) == []


@pytest.mark.parametrize(
    "arguments",
    [
        ["analyze", "{missing}"],
        ["compare", "{missing}", "{missing}2"],
        ["export", "{missing}", "--format", "well", "--out", "{missing}.h5"],
    ],
    ids=["analyze", "compare", "export"],
)
def test_a_wrong_run_directory_is_refused_before_the_analysis_stack_loads(tmp_path, arguments):
    argv = ["billow", *(a.format(missing=tmp_path / "missing") for a in arguments)]
    modules = HEAVY + ("billow.analysis", "billow.ml")
    code = (
        f"import sys; sys.argv = {argv!r}; from billow.cli import main\n"
        "try:\n    main()\nexcept SystemExit as stop:\n"
        f"    print(stop.code, *[m for m in {modules!r} if m in sys.modules])"
    )
    refused = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert refused.stdout.split() == ["2"]  # the one-line error's exit, nothing loaded
    assert refused.stderr.startswith("billow: error: run directory") and "does not exist" in (
        refused.stderr
    )
    assert not any(tmp_path.iterdir())
