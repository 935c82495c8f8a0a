"""``python -m flightsql`` is the ``spark-flight-sql`` command; spark-submit can run this file too."""

import os
import sys

if not __package__:
    # Run as a file (spark-submit): keep this folder's modules from shadowing top-level ones.
    _here = os.path.dirname(os.path.abspath(__file__))
    sys.path[:] = [entry for entry in sys.path if os.path.abspath(entry or os.curdir) != _here]

from flightsql.cli import main  # noqa: E402

main(prog_name="spark-flight-sql")
