"""``python -m relaxed_keras``: the ``relaxed-keras`` command line."""

import sys

from relaxed_keras.cli import main

sys.exit(main())
