"""``python -m linkgraph.demo``: what ``make demo`` runs."""

from __future__ import annotations

import sys

from linkgraph.demo import main

sys.exit(main())
