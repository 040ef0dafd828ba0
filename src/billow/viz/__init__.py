"""Figures (matplotlib, optional extra ``billow[viz]``)."""

from __future__ import annotations

import warnings

from ..errors import BillowError

VIZ_PACKAGES = ("matplotlib", "cmocean", "imageio", "imageio_ffmpeg", "PIL")
INSTALL_HINT = 'pip install -e ".[viz]"'


def missing_viz(packages: tuple[str, ...] = VIZ_PACKAGES) -> str | None:
    """The first of ``packages`` (of the viz extra) that cannot be imported, or None."""
    for name in packages:
        try:
            with warnings.catch_warnings():  # cmocean's import warns on matplotlib >= 3.11
                warnings.simplefilter("ignore")
                __import__(name)
        except ImportError:
            return name
    return None


def require_viz(what: str, packages: tuple[str, ...] = VIZ_PACKAGES) -> None:
    """Refuse (BillowError, one line naming the install command) when a package of the
    viz extra is missing, before any work is done."""
    name = missing_viz(packages)
    if name is not None:
        raise BillowError(
            f"{what} needs {name}, from the optional viz extra: {INSTALL_HINT} "
            "(in the billow repository)"
        )
