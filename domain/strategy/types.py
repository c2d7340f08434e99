"""Type aliases shared by the strategy maths."""

from __future__ import annotations

from typing import TypeAlias

import numpy as np
import numpy.typing as npt

#: Every array in the strategy maths is float64; one alias keeps signatures short.
FloatArray: TypeAlias = npt.NDArray[np.float64]
