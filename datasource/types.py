"""From the server's Arrow schema to Spark's, and each received batch to what Spark expects.

Spark accepts a batch from a Python data source only when its Arrow schema equals exactly
``to_arrow_schema(spark_schema, timezone="UTC")``: plain ``string``/``binary`` (not the large
variants), microsecond timestamps in UTC, Spark's nullability. Types Spark lacks are widened
losslessly first (unsigned integers, half floats, date64, dictionaries).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pyarrow as pa
import pyarrow.types as pat

if TYPE_CHECKING:
    from pyspark.sql.types import StructType

__all__ = ["conform_batch", "spark_arrow_schema", "spark_schema"]


def _widen(data_type: pa.DataType) -> pa.DataType:
    """``data_type`` with every part Spark cannot represent replaced by one it can, losslessly."""
    if pat.is_dictionary(data_type):
        return _widen(data_type.value_type)
    if pat.is_uint8(data_type):
        return pa.int16()
    if pat.is_uint16(data_type):
        return pa.int32()
    if pat.is_uint32(data_type):
        return pa.int64()
    if pat.is_uint64(data_type):
        return pa.decimal128(20, 0)
    if pat.is_float16(data_type):
        return pa.float32()
    if pat.is_date64(data_type):
        return pa.date32()
    if pat.is_string_view(data_type):
        return pa.string()
    if pat.is_binary_view(data_type):
        return pa.binary()
    if pat.is_list(data_type) or pat.is_large_list(data_type) or pat.is_fixed_size_list(data_type):
        return pa.list_(_widen_field(data_type.value_field))
    if pat.is_map(data_type):
        item = _widen_field(data_type.item_field)
        return pa.map_(_widen(data_type.key_type), item)  # type: ignore[call-overload]  # - a Field keeps the item's nullability (Spark's valueContainsNull); the stubs take a DataType only
    if pat.is_struct(data_type):
        return pa.struct([_widen_field(data_type.field(i)) for i in range(data_type.num_fields)])
    return data_type


def _widen_field(arrow_field: pa.Field) -> pa.Field:
    return pa.field(arrow_field.name, _widen(arrow_field.type), arrow_field.nullable)


def spark_schema(schema: pa.Schema) -> StructType:
    """The Spark schema for a server's result schema.

    Timestamps with a time zone become TimestampType, without one TimestampNTZType; Flight SQL
    column metadata is dropped. Raises :class:`TypeError` naming the column Spark cannot hold.
    """
    from pyspark.sql.pandas.types import from_arrow_type
    from pyspark.sql.types import StructField, StructType

    fields = []
    for arrow_field in schema:
        try:
            data_type = from_arrow_type(_widen(arrow_field.type))
        except Exception as exc:  # noqa: BLE001 - PySpark raises several kinds for a type it lacks; each becomes the TypeError naming the column
            raise TypeError(
                f"column {arrow_field.name!r} has Arrow type {arrow_field.type}, which Spark cannot read: {exc}"
            ) from None
        fields.append(StructField(arrow_field.name, data_type, nullable=arrow_field.nullable))
    return StructType(fields)


def spark_arrow_schema(schema: StructType) -> pa.Schema:
    """The exact Arrow schema Spark requires of batches for ``schema``."""
    from pyspark.sql.pandas.types import to_arrow_schema

    return to_arrow_schema(schema, timezone="UTC")


def _temporal(data_type: pa.DataType) -> bool:
    return pat.is_timestamp(data_type) or pat.is_time(data_type) or pat.is_duration(data_type)


def conform_batch(batch: pa.RecordBatch, target: pa.Schema) -> pa.RecordBatch:
    """``batch`` cast to ``target`` (matched by position, renamed to target's names).

    Finer-than-microsecond temporal values are truncated, as Spark's JDBC source does; any other
    lossy cast (an overflow, say) fails. Raises :class:`TypeError` naming the column.
    """
    if batch.schema.equals(target):
        return batch
    if batch.num_columns != len(target):
        raise TypeError(
            f"a batch has {batch.num_columns} columns {batch.schema.names}, the read schema {len(target)}: {target.names}"
        )
    columns = []
    for index, target_field in enumerate(target):
        column = batch.column(index)
        if column.type.equals(target_field.type):
            columns.append(column)
            continue
        try:
            if isinstance(column, pa.DictionaryArray):
                column = column.dictionary_decode()
            columns.append(column.cast(target_field.type, safe=not _temporal(column.type)))
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
            raise TypeError(
                f"column {target_field.name!r}: cannot convert {column.type} to {target_field.type}: {exc}"
            ) from None
    return pa.RecordBatch.from_arrays(columns, schema=target)
