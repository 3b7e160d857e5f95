"""Status codes attached to every point of a batch computation."""

from __future__ import annotations

import enum


class Status(enum.IntEnum):
    """Why a batch point does or does not carry a number.

    Batch APIs never raise for a numerical failure at one point: they return NaN at
    that point together with one of these codes, and finite values with ``OK``.
    """

    OK = 0
    #: The tunnel splitting is not resolved in float64: only with a bias h ≠ 0 (plain
    #: E1 − E0 below ~8e3·eps·‖H‖); at h = 0 it is computed without cancellation.
    UNRESOLVED = 1
    #: The input parameters of this point are invalid (only with ``on_invalid="mask"``).
    INVALID_INPUT = 2
    #: K3 ≤ 1 already at zero dephasing: there is no threshold to find.
    NO_VIOLATION = 3
    #: The root of K3(γφ) = 1 could not be bracketed within the search range.
    NOT_BRACKETED = 4
    #: The root finder did not reach its tolerance.
    NOT_CONVERGED = 5
    #: A root was found, but its estimated relative error (phase errors δ(E_k - E_0)·Δt of
    #: the level gaps propagated through K3, plus the root residual) exceeds 1e-6.
    ILL_CONDITIONED = 6
    #: No float64-trustworthy propagator for this point (e.g. K3 deep in the Zeno regime
    #: beyond the validity of the adiabatic elimination; see :mod:`jaxlmg._leggett_garg`).
    INACCURATE = 7

    @classmethod
    def describe(cls, code: int) -> str:
        return {
            cls.OK: "ok",
            cls.UNRESOLVED: "tunnel splitting not resolved in float64",
            cls.INVALID_INPUT: "invalid input parameters",
            cls.NO_VIOLATION: "no Leggett-Garg violation even at zero dephasing",
            cls.NOT_BRACKETED: "threshold not bracketed",
            cls.NOT_CONVERGED: "root finder did not converge",
            cls.ILL_CONDITIONED: "threshold too sensitive to level-gap errors (estimated error > 1e-6)",
            cls.INACCURATE: "no float64-trustworthy propagator at this point",
        }[cls(int(code))]
