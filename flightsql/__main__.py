"""``python -m spark_flight_sql.flightsql`` is the ``spark-flight-sql`` command; spark-submit can run this file too."""

import os
import sys

if not __package__:
    # Run as a file (spark-submit): keep this folder's modules from shadowing top-level ones.
    _here = os.path.dirname(os.path.abspath(__file__))
    sys.path[:] = [entry for entry in sys.path if os.path.abspath(entry or os.curdir) != _here]

from spark_flight_sql.flightsql.cli import main

main(prog_name="spark-flight-sql")
