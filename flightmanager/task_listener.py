"""Tell the FlightManager which task attempts of a push job Spark counted as successful.

Why this exists: when a partition's computation fails in the JVM (division by zero under ANSI
mode, a lost shuffle block), the Python worker that pushes the partition sees a *clean* end of its
input, so a completed push proves nothing. Only the driver knows that an attempt succeeded. This
SparkListener, a Py4J proxy living in the driver's Python process, reports every successful result
task of a push job as it ends, so nodes can make a partition readable while the job still runs.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any, ClassVar

log = logging.getLogger(__name__)

PUSH_QUERY_PROPERTY = "spark.flight.push.query"
"""Local property that marks the Spark job pushing a query's partitions; its value is the query id."""

TaskCallback = Callable[[str, int, int], None]
"""(query id, partition, task attempt id) of a successful push task."""


class _Listener:
    """The Py4J side of ``org.apache.spark.scheduler.SparkListenerInterface``."""

    class Java:
        implements: ClassVar[list[str]] = ["org.apache.spark.scheduler.SparkListenerInterface"]

    def __init__(self, owner: TaskSuccessListener) -> None:
        self._owner = owner

    def onJobStart(self, event: Any) -> None:  # noqa: N802 - Java interface method
        try:
            properties = event.properties()
            query_id = properties.getProperty(PUSH_QUERY_PROPERTY) if properties is not None else None
            if query_id:
                stage_ids = event.stageIds()
                self._owner.track(str(query_id), [int(stage_ids.apply(i)) for i in range(stage_ids.length())])
        except Exception:  # a listener must never break Spark's listener bus
            log.exception("flight task listener: onJobStart failed")

    def onTaskEnd(self, event: Any) -> None:  # noqa: N802 - Java interface method
        try:
            query_id = self._owner.query_of_stage(int(event.stageId()))
            if query_id is None or event.taskType() != "ResultTask":
                return
            info = event.taskInfo()
            if info.successful():
                self._owner.succeeded(query_id, int(info.partitionId()), int(info.taskId()))
        except Exception:  # a listener must never break Spark's listener bus
            log.exception("flight task listener: onTaskEnd failed")

    def __getattr__(self, name: str) -> Callable[..., None]:
        # Every other listener event is of no interest; Py4J looks methods up by name.
        if name.startswith("on"):
            return _ignore
        raise AttributeError(name)


def _ignore(*_: object) -> None:
    return None


class TaskSuccessListener:
    """One per SparkContext: routes successful push tasks to the callback registered for their query.

    Shared by every FlightManager of the process that uses that SparkContext: each one takes it
    with :meth:`for_context` when it starts and gives it back with :meth:`close`; when the last one
    does, the listener is removed from the SparkContext and forgotten.
    """

    _instances: ClassVar[dict[int, TaskSuccessListener]] = {}
    _instances_lock = threading.Lock()

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._stages: dict[int, str] = {}
        self._callbacks: dict[str, TaskCallback] = {}
        self._key: int | None = None
        self._owners = 0
        self._context: Any = None
        self._proxy: Any = None  # the Java proxy of a _Listener

    @classmethod
    def for_context(cls, spark_context: Any) -> TaskSuccessListener:
        """The listener of this SparkContext, registered with it on first use; :meth:`close` it when
        done."""
        with cls._instances_lock:
            key = id(spark_context)
            instance = cls._instances.get(key)
            if instance is None:
                from pyspark.java_gateway import ensure_callback_server_started

                gateway = spark_context._gateway
                ensure_callback_server_started(gateway)
                instance = cls()
                # py4j makes a new Java proxy each time a Python object crosses to Java, and Spark
                # removes listeners by reference: hold the one Java proxy, added and later removed.
                holder = gateway.jvm.java.util.ArrayList()
                holder.add(_Listener(instance))
                instance._key, instance._context, instance._proxy = key, spark_context, holder.get(0)
                spark_context._jsc.sc().addSparkListener(instance._proxy)
                cls._instances[key] = instance
            instance._owners += 1
            return instance

    def close(self) -> None:
        """Give the listener back; the last owner removes it from its SparkContext."""
        with self._instances_lock:
            self._owners -= 1
            if self._owners > 0 or self._key is None:
                return
            if self._instances.get(self._key) is self:
                del self._instances[self._key]
            context, proxy, self._context, self._proxy = self._context, self._proxy, None, None
        try:
            if context is not None and proxy is not None and context._jsc is not None:
                context._jsc.sc().removeSparkListener(proxy)
        except Exception:  # best effort: Spark may be stopping
            log.debug("could not remove the task listener from the SparkContext", exc_info=True)

    def register(self, query_id: str, callback: TaskCallback) -> None:
        """Call ``callback`` for each successful result task of the job marked with ``query_id``."""
        with self._lock:
            self._callbacks[query_id] = callback

    def unregister(self, query_id: str) -> None:
        """Stop reporting for ``query_id``."""
        with self._lock:
            self._callbacks.pop(query_id, None)
            for stage, owner in list(self._stages.items()):
                if owner == query_id:
                    del self._stages[stage]

    def track(self, query_id: str, stage_ids: list[int]) -> None:
        """Remember which stages belong to the push job of ``query_id``."""
        with self._lock:
            if query_id in self._callbacks:
                for stage in stage_ids:
                    self._stages[stage] = query_id

    def query_of_stage(self, stage_id: int) -> str | None:
        """The query whose push job runs ``stage_id``, if any."""
        with self._lock:
            return self._stages.get(stage_id)

    def succeeded(self, query_id: str, partition: int, attempt: int) -> None:
        """Report one successful task attempt."""
        with self._lock:
            callback = self._callbacks.get(query_id)
        if callback is not None:
            callback(query_id, partition, attempt)
