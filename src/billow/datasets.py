"""Old import path, kept for users: ``billow.datasets`` is the module billow.ml.readers
itself (the same object), so ``from billow.datasets import WellWindows`` works too."""

import sys

from .ml import readers

sys.modules[__name__] = readers
