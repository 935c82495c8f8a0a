"""``python -m flightsql`` is the ``spark-flight-sql`` command."""

from flightsql.cli import main

main(prog_name="spark-flight-sql")
