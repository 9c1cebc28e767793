"""``python -m firmware_bridge ...`` runs the bridge CLI."""

import sys

from firmware_bridge.tools.cli import main

raise SystemExit(main(sys.argv[1:]))
