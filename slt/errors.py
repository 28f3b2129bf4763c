"""Exceptions and warnings shared by every layer of slt."""
from __future__ import annotations


class DivergenceError(RuntimeError):
    """A chain (walker) produced a non-finite value.

    Attributes
    ----------
    chain : int
        Index of the first diverging chain / walker.
    draw : int
        Step (or draw) at which the non-finite value appeared.
    value : float
        The offending value (NaN or +-inf).
    """

    def __init__(self, chain: int, draw: int, value: float, hint: str = ""):
        self.chain, self.draw, self.value = int(chain), int(draw), float(value)
        msg = f"chain {self.chain} diverged at step {self.draw}: value {self.value!r}"
        if hint:
            msg += f". {hint}"
        super().__init__(msg)


class SLTWarning(UserWarning):
    """Warning category for diagnostics emitted by slt (collected in results too)."""


def warn(message: str, category: type[Warning] = SLTWarning) -> None:
    """Emit ``message`` pointing at the first caller outside the slt package (not at slt's own line).

    >>> import warnings
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     warn("check this")
    >>> caught[0].category.__name__
    'SLTWarning'
    """
    import os
    import sys
    import warnings

    root = os.path.dirname(os.path.abspath(__file__)) + os.sep
    level, frame = 2, sys._getframe(1)
    while frame is not None and os.path.abspath(frame.f_code.co_filename).startswith(root):
        frame, level = frame.f_back, level + 1
    warnings.warn(message, category, stacklevel=level)
