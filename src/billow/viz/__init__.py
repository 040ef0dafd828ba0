"""Figures (matplotlib, optional extra ``billow[viz]``)."""

from __future__ import annotations

import importlib.util
import warnings

from ..errors import BillowError

VIZ_PACKAGES = ("matplotlib", "cmocean", "imageio", "imageio_ffmpeg", "PIL")
INSTALL_HINT = 'pip install -e ".[viz]"'


def missing_viz(packages: tuple[str, ...] = VIZ_PACKAGES) -> str | None:
    """The first of ``packages`` (of the viz extra) that is not installed, or None. Looked
    up without importing them: matplotlib and cmocean take 1.5 s to import, which a
    command that then refuses its input in one line should not spend."""
    return next((name for name in packages if importlib.util.find_spec(name) is None), None)


def import_cmocean():
    """The cmocean module (viz extra), imported without the DeprecationWarning that its
    import gives on matplotlib >= 3.11."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        import cmocean  # viz extra, on use

    return cmocean


def require_viz(what: str, packages: tuple[str, ...] = VIZ_PACKAGES) -> None:
    """Refuse (BillowError, one line naming the install command) when a package of the
    viz extra is missing, before any work is done."""
    name = missing_viz(packages)
    if name is not None:
        raise BillowError(
            f"{what} needs {name}, from the optional viz extra: {INSTALL_HINT} "
            "(in the billow repository)"
        )
