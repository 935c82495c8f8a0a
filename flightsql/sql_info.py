"""The values this server answers to GetSqlInfo."""

from __future__ import annotations

import pyarrow as pa

from flightsql.proto import FlightSql_pb2 as sql_pb2
from flightsql.schemas import SqlInfoValue

_I = sql_pb2.SqlInfo

# Spark SQL's reserved words under ANSI mode are few; clients use this list to decide what to quote.
SPARK_KEYWORDS = (
    "ALL", "AND", "ANY", "AS", "AUTHORIZATION", "BOTH", "CASE", "CAST", "CHECK", "COLLATE", "COLUMN",
    "CONSTRAINT", "CREATE", "CROSS", "CURRENT_DATE", "CURRENT_TIME", "CURRENT_TIMESTAMP", "CURRENT_USER",
    "DISTINCT", "ELSE", "END", "ESCAPE", "EXCEPT", "FALSE", "FETCH", "FILTER", "FOR", "FOREIGN", "FROM",
    "FULL", "GRANT", "GROUP", "HAVING", "IN", "INNER", "INTERSECT", "INTO", "IS", "JOIN", "LATERAL",
    "LEADING", "LEFT", "NATURAL", "NOT", "NULL", "OFFSET", "ON", "ONLY", "OR", "ORDER", "OUTER",
    "OVERLAPS", "PRIMARY", "REFERENCES", "RIGHT", "SELECT", "SESSION_USER", "SOME", "TABLE", "THEN",
    "TO", "TRAILING", "TRUE", "UNION", "UNIQUE", "UNKNOWN", "USING", "USER", "WHEN", "WHERE", "WITH",
)


def server_sql_info(server_version: str, spark_version: str) -> dict[int, SqlInfoValue]:
    """GetSqlInfo values of a node running ``server_version`` on Spark ``spark_version``."""
    return {
        _I.FLIGHT_SQL_SERVER_NAME: "Spark Flight SQL",
        _I.FLIGHT_SQL_SERVER_VERSION: f"{server_version} (Spark {spark_version})",
        _I.FLIGHT_SQL_SERVER_ARROW_VERSION: pa.__version__,
        _I.FLIGHT_SQL_SERVER_READ_ONLY: False,
        _I.FLIGHT_SQL_SERVER_SQL: True,
        _I.FLIGHT_SQL_SERVER_SUBSTRAIT: False,
        _I.FLIGHT_SQL_SERVER_TRANSACTION: sql_pb2.SQL_SUPPORTED_TRANSACTION_NONE,
        _I.FLIGHT_SQL_SERVER_CANCEL: False,
        _I.FLIGHT_SQL_SERVER_BULK_INGESTION: False,
        _I.FLIGHT_SQL_SERVER_INGEST_TRANSACTIONS_SUPPORTED: False,
        _I.SQL_DDL_CATALOG: False,
        _I.SQL_DDL_SCHEMA: True,
        _I.SQL_DDL_TABLE: True,
        _I.SQL_IDENTIFIER_CASE: sql_pb2.SQL_CASE_SENSITIVITY_CASE_INSENSITIVE,
        _I.SQL_IDENTIFIER_QUOTE_CHAR: "`",
        _I.SQL_QUOTED_IDENTIFIER_CASE: sql_pb2.SQL_CASE_SENSITIVITY_CASE_INSENSITIVE,
        _I.SQL_ALL_TABLES_ARE_SELECTABLE: True,
        _I.SQL_NULL_ORDERING: sql_pb2.SQL_NULLS_SORTED_LOW,
        _I.SQL_KEYWORDS: list(SPARK_KEYWORDS),
        _I.SQL_SEARCH_STRING_ESCAPE: "\\",
        _I.SQL_EXTRA_NAME_CHARACTERS: "",
        _I.SQL_SUPPORTS_COLUMN_ALIASING: True,
        _I.SQL_NULL_PLUS_NULL_IS_NULL: True,
        _I.SQL_TRANSACTIONS_SUPPORTED: False,
        _I.SQL_SCHEMA_TERM: "schema",
        _I.SQL_CATALOG_TERM: "catalog",
        _I.SQL_PROCEDURE_TERM: "procedure",
    }
