"""``python -m publisher.demo``: the demo without the rest of the ``publisher`` command."""

from __future__ import annotations

import sys

from publisher.demo.runner import main

sys.exit(main())
