"""python -m jaxlmg: the jaxlmg command line."""

import sys

from .cli import main

sys.exit(main())
