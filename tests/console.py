"""Running the installed `billow` console script from tests, as a user's shell would."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

BILLOW = Path(sys.executable).parent / "billow"


def billow_cli(
    *args: str | Path,
    cwd: Path,
    env: dict | None = None,
    columns: int = 80,
    timeout: float = 180,
) -> subprocess.CompletedProcess:
    """Run ``billow ARGS`` in ``cwd`` (terminal width ``columns``, extra ``env``)."""
    return subprocess.run(
        [str(BILLOW), *map(str, args)],
        cwd=cwd,
        env={**os.environ, "COLUMNS": str(columns), **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
    )
