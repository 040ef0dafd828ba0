"""Old import path, kept for users: ``billow.stability`` is the module
billow.linear.stability itself (the same object), so ``import billow.stability`` and
``from billow.stability import growth_rate_curve`` work too."""

import sys

from .linear import stability

sys.modules[__name__] = stability
