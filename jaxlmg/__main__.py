"""python -m jaxlmg: the jaxlmg command line."""

from .cli import run

run()
