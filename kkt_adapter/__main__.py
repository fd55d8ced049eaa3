"""``python -m kkt_adapter`` is the same as the ``kkt-adapter`` command."""

import sys

from kkt_adapter.cli import main

sys.exit(main())
