"""Init script for tests: UDFs whose first task attempts fail or straggle, to test exactly-once.

Run by ``spark-flight-sql serve --init-script``, with ``spark`` in scope.
"""

import time

from pyspark import TaskContext

spark = globals()["spark"]


def fail_first_attempt(x: int) -> int:
    """Raise in every partition's first attempt near its end, after most batches were pushed."""
    if TaskContext.get().attemptNumber() == 0 and x % 10000 == 9000:
        raise RuntimeError(f"injected failure of a first attempt at {x}")
    return x


def straggle_first_attempt(x: int) -> int:
    """Make partition 0's first attempt slow, so that speculation launches a second copy."""
    context = TaskContext.get()
    if context.partitionId() == 0 and context.attemptNumber() == 0 and x % 10000 == 5000:
        time.sleep(8)
    return x


spark.udf.register("fail_first_attempt", fail_first_attempt, "long")
spark.udf.register("straggle_first_attempt", straggle_first_attempt, "long")
