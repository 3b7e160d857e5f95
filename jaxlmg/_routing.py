"""Crossovers between the numerical engines (constants only, no imports: the command
line reads them on its cached one-point path without importing the engines)."""

#: Truncations with at least this many levels propagate with the splitting engine
#: (:mod:`jaxlmg._lg_split`) instead of dense matrix exponentials.
SPLIT_LEVELS = 20
