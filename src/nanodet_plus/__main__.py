"""``python -m nanodet_plus`` runs the command line."""

import sys

from nanodet_plus.cli.main import main

sys.exit(main())
