"""Run parameters: pydantic models, TOML in/out, one-line validation errors.

Every case has a parameter model (a subclass of :class:`RunParams`) whose
field names are the public names used by ``--set``, TOML files, the Python
API and the global attributes of every output file.
"""

from __future__ import annotations

import math
import tomllib
from pathlib import Path
from typing import Any, Literal, get_args

import tomli_w
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from .core.grid import check_transform_length
from .core.schemes import SCHEMES
from .errors import ConfigError, did_you_mean

BCZ = Literal["free-slip", "no-slip", "periodic"]
Scheme = Literal["upwind5", "centered2", "upwind1"]


class NoBooleanNumbers(BaseModel):
    """Refuses true/false for a numeric parameter (pydantic would read true as 1)."""

    @field_validator("*", mode="before")
    @classmethod
    def _no_booleans(cls, value: Any, info: ValidationInfo) -> Any:
        annotation = cls.model_fields[info.field_name].annotation
        types = set(get_args(annotation)) or {annotation}
        if isinstance(value, bool) and types & {int, float} and bool not in types:
            raise ValueError("expected a number, not a boolean")
        return value


class RunParams(NoBooleanNumbers):
    """Parameters every case accepts."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    nx: int = Field(128, ge=8, description="cells in x")
    nz: int = Field(128, ge=8, description="cells in z")
    Lx: float = Field(14.0, gt=0, allow_inf_nan=False, description="domain length (units of d)")
    Lz: float = Field(14.0, gt=0, allow_inf_nan=False, description="domain height (units of d)")
    Re: float = Field(1000.0, gt=0, description="Reynolds number U0 d / nu (inf: inviscid)")
    Sc: float = Field(1.0, gt=0, allow_inf_nan=False, description="Schmidt number of the dye")
    t_end: float = Field(80.0, gt=0, allow_inf_nan=False, description="end time (units of d/U0)")
    save_every: float = Field(
        2.0, gt=0, allow_inf_nan=False, description="simulated time between snapshots"
    )
    cfl: float = Field(
        SCHEMES["upwind5"].cfl,
        gt=0,
        allow_inf_nan=False,
        description="Courant number dt max(|u|/dx + |w|/dz) of the time step (max over cells) "
        "(default: the scheme's, 2.4 for upwind5 (at most 2.6), 1.3 for centered2 (at most "
        "1.5) and 1.0 for upwind1 (at most 1.1))",
    )
    advection: Scheme = Field(
        "upwind5", description="advection scheme: upwind5 | centered2 | upwind1"
    )
    bc_z: BCZ = Field("free-slip", description="z boundaries: free-slip | no-slip | periodic")
    amplitude: float = Field(
        0.01, ge=0, allow_inf_nan=False, description="initial perturbation amplitude"
    )
    noise: float = Field(
        0.0, ge=0, allow_inf_nan=False, description="seeded broadband noise amplitude (0: none)"
    )
    seed: int = Field(0, ge=0, description="random seed of the noise")
    checkpoint_every: float | None = Field(
        None,
        gt=0,
        allow_inf_nan=False,
        description="simulated time between checkpoints (default t_end/10)",
    )
    diagnostics_every: int = Field(
        10,
        ge=1,
        description="steps between the tracer diagnostics (integrals, entropies) in "
        "tracer_diagnostics.nc; the others are in diagnostics.nc after every step",
    )

    @model_validator(mode="before")
    @classmethod
    def _scheme_cfl(cls, data: Any) -> Any:
        """An unset cfl is the advection scheme's default."""
        if isinstance(data, dict) and data.get("cfl") is None:
            scheme = SCHEMES.get(data.get("advection", "upwind5"))
            if scheme is not None:
                data = {**data, "cfl": scheme.cfl}
        return data

    @model_validator(mode="after")
    def _cfl_within_scheme_limit(self) -> RunParams:
        """cfl at most the advection scheme's largest measured-stable Courant number."""
        largest = SCHEMES[self.advection].max_cfl
        if self.cfl > largest:
            raise ConfigError(
                f"invalid value for 'cfl': {self.cfl:g} is above {largest:g}, the largest "
                f"Courant number at which {self.advection} advection stays stable "
                "(docs/performance.md)"
            )
        return self

    @model_validator(mode="after")
    def _grid_sizes(self) -> RunParams:
        check_transform_length("nx", self.nx)
        check_transform_length("nz", self.nz, transformed=self.bc_z == "periodic")
        return self


class DoublyPeriodicParams(RunParams):
    """Parameters of cases that only make sense in a doubly periodic box."""

    bc_z: BCZ = Field("periodic", description="z boundaries (periodic only)")

    @model_validator(mode="after")
    def _periodic_only(self) -> DoublyPeriodicParams:
        if self.bc_z != "periodic":
            raise ValueError("this case is doubly periodic: bc_z must be 'periodic'")
        return self


class StratifiedParams(RunParams):
    """Parameters of cases with a stratified base state."""

    Ri: float = Field(
        0.1,
        ge=0,
        allow_inf_nan=False,
        description="gradient Richardson number N^2/S^2 at the centre (>= 1/4: no linear growth)",
    )
    Pr: float = Field(1.0, gt=0, allow_inf_nan=False, description="Prandtl number nu / kappa")
    dye: bool = Field(
        True,
        description="carry the case's passive dye c (its entropy measures mixing); false: "
        "step u, w and b only, one field less",
    )


def format_validation_error(
    error: ValidationError, context: str, params_cls: type[BaseModel]
) -> str:
    """One line naming the first invalid parameter and why.

    ``context`` names what was being configured, e.g. "case 'shear_layer'".
    """
    first = error.errors()[0]
    loc = ".".join(str(part) for part in first["loc"]) or "parameters"
    if first["type"] == "extra_forbidden":
        suggestion = did_you_mean(loc, params_cls.model_fields)
        return f"unknown parameter '{loc}' for {context}{suggestion}"
    message = first["msg"]
    if message.startswith("Value error, "):
        message = message[len("Value error, ") :]
    if first["type"] == "value_error" and loc == "parameters":
        return f"invalid parameters for {context}: {message}"
    return f"invalid value for '{loc}' in {context}: {message} (got {first.get('input')!r})"


def spec_field(default: Any, error: str, **constraints: Any) -> Any:
    """A field of a :class:`Spec` whose wrong value (type, constraint, missing) is reported
    as ``error``, a whole sentence such as "'seeds' must be a non-empty list of integers"."""
    return Field(default, json_schema_extra={"error": error}, **constraints)


class Spec(BaseModel):
    """A spec file's table (sweep, dataset) checked by pydantic: strict types (no "1" for
    1, no true for a number), no unknown keys, and one line per error (:meth:`parse`)."""

    model_config = ConfigDict(extra="forbid", strict=True)

    @classmethod
    def parse(cls, data: dict[str, Any], where: str) -> Any:
        """The spec of a parsed TOML table, or a one-line ConfigError starting ``where``."""
        try:
            return cls.model_validate(data)
        except ValidationError as error:
            raise ConfigError(f"{where}: {spec_error_message(error, cls)}") from None


def spec_error_message(error: ValidationError, spec_cls: type[BaseModel]) -> str:
    """The first error of a :class:`Spec` as a sentence: a validator's own message, an
    unknown key of a table with a suggestion, or the ``error`` of the field at fault."""
    first = error.errors()[0]
    loc = [part for part in first["loc"] if isinstance(part, str)]
    if first["type"] == "value_error":
        return first["msg"].removeprefix("Value error, ")
    model, table, field = spec_cls, None, None
    for part in loc:  # down through nested tables to the deepest field named in loc
        if part not in model.model_fields:
            break
        table, field = part, model.model_fields[part]
        nested = field.annotation
        if not (isinstance(nested, type) and issubclass(nested, BaseModel)):
            break
        model = nested
    if first["type"] == "extra_forbidden":
        key = loc[-1]
        return f"unknown key '{key}' in [{table}]{did_you_mean(key, model.model_fields)}"
    extra = field.json_schema_extra if field is not None else None
    if isinstance(extra, dict) and "error" in extra:
        return str(extra["error"])
    return f"invalid value for '{'.'.join(loc)}': {first['msg']}"


def validate_params(context: str, params_cls: type[BaseModel], values: dict[str, Any]) -> Any:
    """Build a parameter model, turning errors into one-line ConfigErrors."""
    try:
        return params_cls(**values)
    except ValidationError as error:
        raise ConfigError(format_validation_error(error, context, params_cls)) from None


def parse_assignment(text: str) -> tuple[str, Any]:
    """Parse ``key=value`` from the command line; the value is read as a TOML literal
    (``64`` -> int, ``1e3`` -> float, ``true`` -> bool), otherwise kept as a string."""
    if "=" not in text:
        raise ConfigError(f"--set expects key=value, got '{text}'")
    key, raw = (part.strip() for part in text.split("=", 1))
    if not key:
        raise ConfigError(f"--set expects key=value, got '{text}'")
    try:
        value = tomllib.loads(f"value = {raw}")["value"]
    except tomllib.TOMLDecodeError:
        value = raw
    return key, value


def read_toml(path: str | Path, what: str = "config file") -> dict[str, Any]:
    """A TOML file's table, or a one-line ConfigError naming ``what`` is missing or broken."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{what} '{path}' does not exist")
    try:
        return tomllib.loads(path.read_text())
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
        raise ConfigError(f"{what} '{path}' is not valid TOML: {error}") from None


def read_config(path: str | Path) -> tuple[str | None, dict[str, Any]]:
    """Read a TOML config: optional top-level ``case`` plus parameters."""
    data = read_toml(path)
    case = data.pop("case", None)
    if case is not None and not isinstance(case, str):
        raise ConfigError(f"config file '{path}': 'case' must be a string")
    nested = data.pop("parameters", {})
    if not isinstance(nested, dict):
        raise ConfigError(f"config file '{path}': [parameters] must be a table")
    return case, {**data, **nested}


def config_toml(case: str, params: RunParams) -> str:
    """The fully resolved configuration, rerunnable with ``billow run --config``."""
    return tomli_w.dumps({"case": case, **params.model_dump()})


def attribute_value(value: Any) -> Any:
    """A parameter as a netCDF attribute (strings and numbers; inf kept as float)."""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, float) and math.isnan(value):
        return "nan"
    return value


class StabilityParams(NoBooleanNumbers):
    """Parameters of ``billow stability``: the tanh base state and its domain (``billow
    stability`` starts from the defaults of a case, ``--case``, default shear_layer)."""

    model_config = ConfigDict(extra="forbid")

    Re: float = Field(1000.0, gt=0, description="Reynolds number (inf: Taylor-Goldstein)")
    Ri: float = Field(
        0.1, ge=0, allow_inf_nan=False, description="centre gradient Richardson number"
    )
    Pr: float = Field(1.0, gt=0, allow_inf_nan=False, description="Prandtl number")
    R: float = Field(1.0, gt=0, allow_inf_nan=False, description="shear / density thickness ratio")
    Lz: float = Field(14.0, gt=0, allow_inf_nan=False, description="distance between the walls")
    bc_z: Literal["free-slip", "no-slip"] = Field("free-slip", description="walls")
    wavelengths: int = Field(1, ge=1, description="wavelengths in the recommended Lx")
