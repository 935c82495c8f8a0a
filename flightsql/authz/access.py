"""What a SQL statement reads and writes, learnt from Spark's analysed plan without running it.

:func:`analyse_access` parses the statement with the session's parser and analyses it with the
session's analyzer (``Analyzer.executeAndCheck``, the step Spark takes before it runs anything).
It never builds a DataFrame, so nothing runs: a CREATE TABLE, INSERT, DROP, SET or CACHE TABLE
analysed here changes nothing. The analysed plan (and, for the few nodes the analyzer leaves
unresolved, the parsed names) is then walked through py4j: children, inner children, subquery
expressions, CTE definitions, views, and each command's own fields.

Names
-----
Every name is fully qualified, its parts joined with ``.`` in lower case (as Spark's session
catalog stores them); a part that holds ``.``, a backtick, whitespace or a glob character
(``*?[]``) is written in backticks (a backtick inside doubled), so no name reads as another or as
a pattern:

- a table or view of a catalog: ``catalog.database.table`` (``spark_catalog.default.t``; a catalog
  with nested namespaces gives more parts);
- a local temporary view (and any other object that lives only in the session: temporary
  functions, session variables): ``system.session.<name>``, where Spark's own search path puts
  them and where the Flight SQL metadata commands report them;
- a global temporary view: ``global_temp.<name>``, as SQL names it (the database named by
  ``spark.sql.globalTempDatabase``; Spark does not resolve it under ``spark_catalog``);
- a database (namespace) as a whole, for CREATE/DROP/ALTER DATABASE, USE, SHOW TABLES IN, ...:
  ``catalog.database.*``; a whole catalog (SHOW DATABASES): ``catalog.*``;
- files read or written by location rather than through a table (``parquet.`/data/x```, INSERT
  OVERWRITE DIRECTORY, LOAD DATA INPATH, the LOCATION of a table being created or moved, a
  temporary view ``USING parquet OPTIONS (path ...)``): ``path:`` and the location as a fully
  qualified URI, in its own case (``path:file:/data/x``, ``path:s3a://bucket/x``);
- other data sources without a table (a JDBC relation behind a temporary view, a DataFrame of a
  v2 source): ``source:`` and the relation's class name (or the v2 table's own name). Options,
  which may hold credentials, are never part of a name.

Views
-----
A query over a persistent view (or a global temporary view) counts as reading the view, the usual
SQL model where access to a view is granted independently of what it reads: the view is in
``reads``, and the tables and views its definition reads are recorded apart, in ``view_reads``,
for audit and for policies that want the stricter model. A local temporary view is a named query
of the session and no security boundary: reading one records its name *and* everything it reads
in ``reads``. CTE names are not tables; what their definitions read is read by the statement.
Creating or altering a view reads what its new definition names (those are in ``reads``).

Kinds
-----
``QUERY`` reads only. ``WRITE`` changes table data: INSERT INTO/OVERWRITE (also of a directory),
the multi-insert ``FROM s INSERT ... INSERT ...``, CTAS/RTAS, UPDATE, DELETE, MERGE, TRUNCATE,
LOAD DATA. ``DDL`` creates, alters or drops tables, views (also temporary ones), functions and
databases, and repairs partitions (MSCK REPAIR). ``COMMAND`` is everything else: SHOW, DESCRIBE,
SET, RESET, USE, EXPLAIN, DESCRIBE QUERY, CACHE/UNCACHE/REFRESH, ANALYZE, ADD JAR, session
variables, ... For WRITE and DDL the objects changed are in ``writes``; a COMMAND's objects are in
``reads``, except ANALYZE TABLE, which writes the table's statistics, and CACHE TABLE ... AS
SELECT, which creates a temporary view (both in ``writes``). EXPLAIN and DESCRIBE QUERY read what
the statement they describe reads or writes (they run nothing). A command Spark adds later and this
module does not know is a COMMAND that is not session-only and writes what it names.

``session_only`` says that a statement changes nothing any other session can see: every query;
SHOW, DESCRIBE, EXPLAIN, USE, RESET, session variables; SET of a ``spark.sql.*`` key other than
``spark.sql.catalog.*`` (which registers a catalog) and ``spark.sql.redaction.*`` (which would
unmask secrets in DESCRIBE output); creating, altering, renaming and dropping local temporary
views. Everything else (writes, DDL on anything else, CACHE, REFRESH, ANALYZE, ADD JAR, SET of
any other key) is not session-only.

Not analysed
------------
``EXECUTE IMMEDIATE`` (Spark's analyzer *runs* the statement it wraps), SQL scripts
(``BEGIN ... END``) and ``CALL`` of a stored procedure do what is known only when they run, so
they are not analysed at all: they come back as an opaque COMMAND (``opaque=True``) with nothing
in ``reads`` or ``writes``, and so does an EXPLAIN or DESCRIBE QUERY of one. A statement Spark
cannot analyse (an unknown table, a type error) raises Spark's AnalysisException, as running it
would.

Not recorded: functions a query calls (persistent SQL or Java functions are not tables; creating
or dropping one is DDL and names it), what the body of a SQL function being created reads, the
LOCATION of a database being created, and the files behind JARs added with ADD JAR.

Parameter markers (``?``) take ``args``, a list of values as ``SparkSession.sql`` takes them.
Without ``args``, nulls stand in for them (zeros where Spark needs a typed value, as in
``LIMIT ?``); a marker that names a table (``IDENTIFIER(?)``) needs the real value.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from enum import Enum
from typing import TYPE_CHECKING, Any

from spark_flight_sql.flightsql.statements import count_markers

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

__all__ = ["AccessKind", "StatementAccess", "analyse_access"]


class AccessKind(str, Enum):
    """What a statement does, from least to most powerful for a policy's purposes."""

    QUERY = "query"
    """Reads only (SELECT, VALUES, TABLE t, ...)."""
    WRITE = "write"
    """Writes table data: INSERT, CTAS/RTAS, MERGE/UPDATE/DELETE, TRUNCATE, LOAD DATA."""
    DDL = "ddl"
    """Creates, alters or drops tables, views, functions or databases."""
    COMMAND = "command"
    """Anything else: SHOW, DESCRIBE, SET, USE, EXPLAIN, CACHE, ANALYZE, ADD JAR, ..."""


@dataclass(frozen=True)
class StatementAccess:
    """What one statement reads and writes (see the module docstring for the names' form)."""

    kind: AccessKind
    reads: frozenset[str]
    """Tables, views, paths and other sources the statement reads (views by their own name)."""
    writes: frozenset[str]
    """What the statement creates, changes or drops."""
    sql: str
    """The statement as given."""
    view_reads: frozenset[str] = frozenset()
    """What persistent and global temporary views read on the statement's behalf (not in ``reads``)."""
    operation: str = ""
    """The name of Spark's plan node for the statement (``Project``, ``CreateDataSourceTableCommand``,
    ``SetCommand``, ...): for audit lines and finer-grained policies."""
    session_only: bool = False
    """The statement changes nothing any other session can see (queries, SHOW, DESCRIBE, SET of a
    session SQL setting, USE, EXPLAIN, local temporary views)."""
    opaque: bool = False
    """What the statement touches is known only when it runs (EXECUTE IMMEDIATE, SQL scripts,
    CALL): ``reads`` and ``writes`` are empty, not because it touches nothing."""

    @property
    def changes_state(self) -> bool:
        """Whether the statement may change something other sessions see."""
        return self.kind is not AccessKind.QUERY and not self.session_only


def analyse_access(spark: SparkSession, sql: str, args: list[Any] | None = None) -> StatementAccess:
    """What ``sql`` reads and writes in ``spark``'s session, without running it.

    ``args`` are the values of the statement's ``?`` markers (None: stand-ins are used). Raises
    Spark's ParseException or AnalysisException where running the statement would.
    """
    analysis = _Analysis(spark, sql)
    plan = analysis.state.sqlParser().parsePlan(sql)
    try:
        analysis.run(plan, args)
    except _Opaque as opaque:
        return StatementAccess(
            AccessKind.COMMAND, frozenset(), frozenset(), sql, operation=opaque.operation, opaque=True
        )
    return StatementAccess(
        kind=analysis.kind,
        reads=frozenset(analysis.reads),
        writes=frozenset(analysis.writes),
        sql=sql,
        view_reads=frozenset(analysis.view_reads),
        operation=analysis.operation,
        session_only=analysis.session_only,
    )


# ---- what Spark's plan nodes mean ---------------------------------------------------------------

_RANK = {AccessKind.QUERY: 0, AccessKind.COMMAND: 1, AccessKind.WRITE: 2, AccessKind.DDL: 3}

# Statements whose effect is decided only when they run. Analysing EXECUTE IMMEDIATE runs the
# statement it wraps (Spark 4.1+), so these are recognised on the parsed plan and never analysed.
_OPAQUE = frozenset({"UnresolvedExecuteImmediate", "CompoundBody", "Call"})

# Leaves that read a table, a file or another source.
_RELATIONS = frozenset({
    "LogicalRelation", "HiveTableRelation", "DataSourceV2Relation", "DataSourceV2ScanRelation",
    "StreamingRelation", "StreamingRelationV2", "StreamingDataSourceV2Relation",
})  # fmt: skip

# Nodes that only name what a command acts on (the analyzer's resolved forms and, where it left
# them, the parser's unresolved ones).
_FUNCTION_NAMES = frozenset({"ResolvedPersistentFunc", "ResolvedNonPersistentFunc", "UnresolvedFunctionName"})
_NAME_NODES = frozenset({
    "ResolvedTable", "ResolvedPersistentView", "ResolvedTempView", "ResolvedIdentifier", "ResolvedNamespace",
    "UnresolvedRelation", "UnresolvedIdentifier", "UnresolvedTable", "UnresolvedView", "UnresolvedTableOrView",
    "UnresolvedNamespace",
}) | _FUNCTION_NAMES  # fmt: skip

# A command's plan-valued fields that hold the relation it changes (other plan fields are queries).
_TARGET_FIELDS = frozenset({"table", "targetTable", "originalTable", "logicalRelation"})
# A command's fields that name what it reads rather than what it acts on.
_SOURCE_FIELDS = frozenset({"sourceTable", "source", "query", "plan", "logicalPlan"})
# Commands that hold the (parsed) statement they describe, by field.
_DESCRIBED_STATEMENT = {"ExplainCommand": "logicalPlan", "DescribeQueryCommand": "plan"}
# Commands that create a table whose LOCATION, if given, is written.
_CREATES_TABLE = frozenset({
    "CreateDataSourceTableCommand", "CreateTableCommand", "CreateDataSourceTableAsSelectCommand",
    "CreateHiveTableAsSelectCommand", "OptimizedCreateHiveTableAsSelectCommand",
})  # fmt: skip
# DDL that is session-only when all it changes are local temporary views.
_VIEW_DDL = frozenset({
    "CreateViewCommand", "CreateTempViewUsing", "DropTempViewCommand", "AlterViewAsCommand",
    "AlterTableRenameCommand", "RenameTable", "AlterViewSchemaBindingCommand",
})  # fmt: skip
# SET of these keys is not session-only (see the module docstring).
_SENSITIVE_SETTINGS = ("spark.sql.catalog.", "spark.sql.redaction.")


@dataclass(frozen=True)
class _Command:
    kind: AccessKind
    session_only: bool = False
    writes_targets: bool | None = None
    """Whether what the command acts on is written (default: for WRITE and DDL)."""


def _commands(kind: AccessKind, names: str, **options: bool) -> dict[str, _Command]:
    return {name: _Command(kind, **options) for name in names.split()}


# Class names from every Spark 4.x release: some exist only in some.
_COMMANDS: dict[str, _Command] = {
    **_commands(
        AccessKind.WRITE,
        """InsertIntoHadoopFsRelationCommand InsertIntoDataSourceCommand InsertIntoHiveTable
        InsertIntoDataSourceDirCommand InsertIntoHiveDirCommand InsertIntoStatement InsertIntoDir
        AppendData OverwriteByExpression OverwritePartitionsDynamic DeleteFromTable
        DeleteFromTableWithFilters UpdateTable MergeIntoTable ReplaceData WriteDelta
        TruncateTableCommand TruncateTable TruncatePartition CreateDataSourceTableAsSelectCommand
        CreateHiveTableAsSelectCommand OptimizedCreateHiveTableAsSelectCommand CreateTableAsSelect
        ReplaceTableAsSelect LoadDataCommand LoadData SaveIntoDataSourceCommand SaveAsV1TableCommand
        InsertOnlyMerge""",
    ),
    **_commands(
        AccessKind.DDL,
        """CreateTable CreateDataSourceTableCommand CreateTableCommand CreateTableLikeCommand
        ReplaceTable DropTable DropTableCommand DropView CreateView CreateViewCommand AlterViewAs
        AlterViewAsCommand AlterViewSchemaBinding AlterViewSchemaBindingCommand CreateTempViewUsing
        DropTempViewCommand RenameTable AlterTableRenameCommand AddColumns AlterTableAddColumnsCommand
        ReplaceColumns DropColumns RenameColumn AlterColumn AlterColumns AlterTableChangeColumnCommand
        SetTableProperties AlterTableSetPropertiesCommand UnsetTableProperties
        AlterTableUnsetPropertiesCommand SetViewProperties UnsetViewProperties SetTableLocation
        AlterTableSetLocationCommand SetTableSerDeProperties AlterTableSerDePropertiesCommand
        AddPartitions AlterTableAddPartitionCommand DropPartitions AlterTableDropPartitionCommand
        RenamePartitions AlterTableRenamePartitionCommand RecoverPartitions
        AlterTableRecoverPartitionsCommand RepairTable RepairTableCommand CommentOnTable
        CommentOnNamespace CreateNamespace DropNamespace SetNamespaceProperties SetNamespaceLocation
        CreateDatabaseCommand DropDatabaseCommand AlterDatabasePropertiesCommand
        AlterDatabaseSetLocationCommand CreateFunction CreateFunctionCommand
        CreateUserDefinedFunctionCommand CreateSQLFunctionCommand DropFunction DropFunctionCommand
        CreateIndex DropIndex AlterTableClusterBy AlterTableCollation AddConstraint DropConstraint
        AddCheckConstraint CreateTableLike CreateUserDefinedFunction AlterTableChangeColumnCommentsCommand
        SetNamespaceCollationCommand UnsetNamespacePropertiesCommand CreateMetricView CreateMetricViewCommand
        CreateFlowCommand CreateMaterializedViewAsSelect CreateStreamingTable CreateStreamingTableAsSelect
        CreateStreamingTableAutoCdc""",
    ),
    **_commands(
        AccessKind.COMMAND,
        """SetCommand ResetCommand SetCatalogAndNamespace SetCatalogCommand SetNamespaceCommand
        ShowTables ShowTablesCommand ShowTablesExtended ShowTableExtended ShowTablePartition ShowViews
        ShowViewsCommand ShowNamespaces ShowNamespacesCommand ShowFunctions ShowFunctionsCommand
        ShowColumns ShowColumnsCommand ShowCreateTable ShowCreateTableCommand
        ShowCreateTableAsSerdeCommand ShowTableProperties ShowTablePropertiesCommand ShowPartitions
        ShowPartitionsCommand ShowCatalogs ShowCatalogsCommand ShowCurrentNamespace
        ShowCurrentNamespaceCommand DescribeRelation DescribeTableCommand DescribeColumn
        DescribeColumnCommand DescribeNamespace DescribeDatabaseCommand DescribeFunction
        DescribeFunctionCommand DescribeQueryCommand ExplainCommand SetVariable CreateVariable
        DropVariable ListJarsCommand ListFilesCommand ListArchivesCommand ShowCollationsCommand
        DescribeTablePartition DescribeRelationJsonCommand ShowTablesJsonCommand ShowPartitionsJsonCommand
        DescribeProcedureCommand ShowProceduresCommand StreamingExplainCommand SetPathCommand NoopCommand
        DeclareCursor OpenCursor FetchCursor CloseCursor""",
        session_only=True,
    ),
    **_commands(
        AccessKind.COMMAND,
        """CacheTable CacheTableCommand UncacheTable UncacheTableCommand
        ClearCacheCommand RefreshTable RefreshTableCommand RefreshResource RefreshFunction
        RefreshFunctionCommand AddJarsCommand AddFilesCommand AddArchivesCommand ExternalCommandExecutor""",
    ),
    **_commands(
        AccessKind.COMMAND,
        """AnalyzeTable AnalyzeTableCommand AnalyzeColumn AnalyzeColumnCommand AnalyzeTables
        AnalyzeTablesCommand AnalyzePartitionCommand CacheTableAsSelect""",
        writes_targets=True,  # table statistics; CACHE TABLE ... AS creates a temporary view
    ),
}
# Commands whose objects are not plain fields of theirs: the _Analysis method that finds them.
_NAMED_BY_THEMSELVES = {
    "CreateViewCommand": "_create_view",
    "CreateTempViewUsing": "_create_temp_view_using",
    "DropTempViewCommand": "_drop_temp_view",
    "CacheTableAsSelect": "_cache_table_as_select",
    "AlterTableRenameCommand": "_alter_table_rename",
    "RenameTable": "_rename_table",
}
# A command this module does not know: assume the worst.
_UNKNOWN_COMMAND = _Command(AccessKind.COMMAND, session_only=False, writes_targets=True)

# Whether a class (by name) is a LogicalPlan / a Command: the JVM answers once per class.
_is_plan_cache: dict[str, bool] = {}
_is_command_cache: dict[str, bool] = {}
_SEPARATOR = "\x01"  # joins a Seq[String] into one string, one py4j call for the whole Seq


class _Jvm:
    """The JVM classes and values an analysis uses, looked up once: every step through
    ``jvm.org.apache...`` is a py4j round trip."""

    def __init__(self, jvm: Any) -> None:
        self.jvm = jvm
        patterns = jvm.org.apache.spark.sql.catalyst.trees.TreePattern
        self.execute_immediate = patterns.EXECUTE_IMMEDIATE()
        self.parameter = patterns.PARAMETER()
        self.logical_plan = jvm.java.lang.Class.forName(
            "org.apache.spark.sql.catalyst.plans.logical.LogicalPlan"
        )
        self.command = jvm.java.lang.Class.forName("org.apache.spark.sql.catalyst.plans.logical.Command")
        self.sessions = jvm.org.apache.spark.sql.SparkSession
        self.tracker = jvm.org.apache.spark.sql.catalyst.QueryPlanningTracker
        self.no_callback = jvm.scala.Option.empty()
        self.parameterized = jvm.org.apache.spark.sql.catalyst.analysis.PosParameterizedQuery
        self.to_seq = jvm.PythonUtils.toSeq
        self.path = jvm.org.apache.hadoop.fs.Path


_jvm_cache: _Jvm | None = None


def _jvm_refs(jvm: Any) -> _Jvm:
    global _jvm_cache
    refs = _jvm_cache
    if refs is None or refs.jvm is not jvm:  # a new SparkContext has a new gateway
        refs = _jvm_cache = _Jvm(jvm)
    return refs


class _Opaque(Exception):
    def __init__(self, operation: str) -> None:
        super().__init__(operation)
        self.operation = operation


def _node_name(node: Any) -> str:
    return str(node.nodeName()).rstrip("$")


def _strings(seq: Any) -> list[str]:
    """The elements of a Scala Seq[String]."""
    joined = str(seq.mkString(_SEPARATOR))
    return joined.split(_SEPARATOR) if joined else []


def _seq(seq: Any) -> Iterator[Any]:
    """The elements of a Scala Seq."""
    for i in range(seq.size()):
        yield seq.apply(i)


def _class_name(value: Any) -> str:
    """The JVM class name of a py4j object; empty for a Python value."""
    return str(value.getClass().getName()) if hasattr(value, "getClass") else ""


def _unwrapped(value: Any) -> tuple[Any, str]:
    """A command field's value (the value inside a Scala ``Some``) and its JVM class name."""
    cls = _class_name(value)
    if cls == "scala.Some":
        value = value.get()
        cls = _class_name(value)
    return value, cls


def _option(option: Any) -> Any:
    """The value of a Scala Option, or None."""
    return option.get() if option.isDefined() else None


def _quote(part: str) -> str:
    part = part.lower()
    if any(c in ".`*?[]" or c.isspace() for c in part):
        return "`" + part.replace("`", "``") + "`"
    return part


def _join(parts: list[str]) -> str:
    return ".".join(_quote(p) for p in parts)


def table_name(*parts: str) -> str:
    """The normalised name (as in :attr:`StatementAccess.reads`) of a table given by its parts."""
    return _join(list(parts))


class _Analysis:
    """One statement's analysis: what it found so far."""

    def __init__(self, spark: SparkSession, sql: str) -> None:
        self.sql = sql
        self.spark = spark
        self.jvm = _jvm_refs(spark._jvm)
        self.session = spark._jsparkSession
        self.state = self.session.sessionState()
        self.reads: set[str] = set()
        self.writes: set[str] = set()
        self.view_reads: set[str] = set()
        self.kind = AccessKind.QUERY
        self.session_only = True
        self.operation = ""
        self.args: list[Any] | None = None
        self._global_temp: str | None = None
        self._hadoop_conf: Any = None

    # ---- parsing and analysing ----

    def run(self, plan: Any, args: list[Any] | None) -> None:
        """Analyse a parsed statement and record what it reads and writes."""
        self.args = args
        name = _node_name(plan)
        if name in _OPAQUE or plan.containsPattern(self.jvm.execute_immediate):
            raise _Opaque(name)
        analysed = self._analysed(plan, args)
        self.operation = _node_name(analysed)
        self.walk(analysed, in_view=False)

    def _analysed(self, plan: Any, args: list[Any] | None) -> Any:
        if args:
            return self._check(self._parameterized(plan, args))
        if args is not None or not plan.containsPattern(self.jvm.parameter):
            return self._check(plan)
        markers = count_markers(self.sql)
        try:
            return self._check(self._parameterized(plan, [None] * markers))
        except Exception as exc:
            # Where Spark needs a typed value (LIMIT ?), it refuses a null (type VOID).
            if '"VOID"' not in str(exc):
                raise
            return self._check(self._parameterized(plan, [0] * markers))

    def _parameterized(self, plan: Any, values: list[Any]) -> Any:
        from pyspark.sql.classic.column import _to_java_column
        from pyspark.sql.functions import lit

        expressions = [self.session.expression(_to_java_column(lit(value))) for value in values]
        return self.jvm.parameterized(plan, self.jvm.to_seq(expressions))

    def _check(self, plan: Any) -> Any:
        """``plan`` analysed as Spark analyses a statement before running it, with this session
        active as it is then."""
        sessions = self.jvm.sessions
        previous = sessions.getActiveSession()
        sessions.setActiveSession(self.session)
        try:
            tracker = self.jvm.tracker(self.jvm.no_callback)
            return self.state.analyzer().executeAndCheck(plan, tracker)
        finally:
            if previous.isDefined():
                sessions.setActiveSession(previous.get())
            else:
                sessions.clearActiveSession()

    # ---- walking the plan ----

    def _read(self, name: str, in_view: bool) -> None:
        (self.view_reads if in_view else self.reads).add(name)

    def walk(self, node: Any, in_view: bool) -> None:
        """Record what ``node`` (a query, or a command within one) reads or writes."""
        name = _node_name(node)
        if name == "View":
            self._view(node, in_view)
        elif name in _RELATIONS:
            for found in self._relation_names(node, name):
                self._read(found, in_view)
        elif name in _NAME_NODES:
            if name not in _FUNCTION_NAMES:
                for found in self._names(node, name):
                    self._read(found, in_view)
        elif self._is_command(node, name):
            self._command(node, name, in_view)
        else:
            for child in _seq(node.children()):
                self.walk(child, in_view)
            # Subquery expressions (IN, EXISTS, scalar, lateral) are a plan's inner children.
            for inner in _seq(node.innerChildren()):
                if self._is_plan(inner):
                    self.walk(inner, in_view)

    def _view(self, view: Any, in_view: bool) -> None:
        name, local = self._view_name(view)
        self._read(name, in_view)
        # A local temporary view is transparent: what it reads, the statement reads.
        self.walk(view.child(), in_view=in_view if local else True)

    def _view_name(self, view: Any) -> tuple[str, bool]:
        """A View node's name, and whether it is a local temporary view."""
        identifier = view.desc().identifier()
        if not view.isTempView():
            return self._table_identifier(identifier), False
        parts = _strings(identifier.nameParts())
        if len(parts) == 1:
            return self._temp_view_name(parts[0], global_view=False), True
        return self._temp_view_name(parts[-1], global_view=True), False

    def _is_plan(self, value: Any) -> bool:
        cls = str(value.getClass().getName())
        found = _is_plan_cache.get(cls)
        if found is None:
            found = _is_plan_cache[cls] = bool(self.jvm.logical_plan.isInstance(value))
        return found

    def _is_command(self, node: Any, name: str) -> bool:
        if name in _COMMANDS:
            return True
        found = _is_command_cache.get(name)
        if found is None:
            found = _is_command_cache[name] = bool(self.jvm.command.isInstance(node))
        return found

    # ---- commands ----

    def _command(self, node: Any, name: str, in_view: bool) -> None:
        spec = _COMMANDS.get(name, _UNKNOWN_COMMAND)
        targets: list[str] = []
        sources: list[str] = []
        if name in _DESCRIBED_STATEMENT:
            self._described(getattr(node, _DESCRIBED_STATEMENT[name])())
        elif name in _NAMED_BY_THEMSELVES:
            getattr(self, _NAMED_BY_THEMSELVES[name])(node, in_view, targets, sources)
        else:
            self._fields(node, name, spec, targets, sources, in_view)
        session_only = spec.session_only
        if name == "SetCommand":
            session_only = self._harmless_setting(node)
        if name in _VIEW_DDL:
            session_only = bool(targets) and all(t.startswith("system.session.") for t in targets)
        for sub in _seq(node.subqueries()):
            self.walk(sub, in_view)
        writes_targets = (
            spec.writes_targets if spec.writes_targets is not None else spec.kind is not AccessKind.COMMAND
        )
        for target in targets:
            if writes_targets:
                self.writes.add(target)
            else:
                self._read(target, in_view)
        for source in sources:
            self._read(source, in_view)
        if _RANK[spec.kind] > _RANK[self.kind]:
            self.kind = spec.kind
        self.session_only = self.session_only and session_only

    # Commands whose objects are not plain fields: one method each (see _NAMED_BY_THEMSELVES).

    def _create_view(self, node: Any, in_view: bool, targets: list[str], sources: list[str]) -> None:
        view_type = str(node.viewType().getClass().getSimpleName()).rstrip("$")
        view = node.name()
        if view_type == "PersistedView":
            targets.append(self._table_identifier(view))
        else:
            targets.append(self._temp_view_name(view.table(), global_view=view_type == "GlobalTempView"))
        self.walk(node.plan(), in_view)

    def _create_temp_view_using(
        self, node: Any, in_view: bool, targets: list[str], sources: list[str]
    ) -> None:
        targets.append(
            self._temp_view_name(node.tableIdent().table(), global_view=bool(getattr(node, "global")()))
        )
        path = _option(node.options().get("path"))
        sources.append(self._path(path) if path is not None else f"source:{node.provider()}")

    def _drop_temp_view(self, node: Any, in_view: bool, targets: list[str], sources: list[str]) -> None:
        identifier = node.ident()
        targets.append(self._temp_view_name(identifier.name(), global_view=len(identifier.namespace()) > 0))

    def _cache_table_as_select(
        self, node: Any, in_view: bool, targets: list[str], sources: list[str]
    ) -> None:
        view_name = node.tempViewName()  # a Literal (the name may come from IDENTIFIER(...))
        targets.append(_join(["system", "session", str(view_name.value().toString())]))
        self.walk(node.plan(), in_view)

    def _alter_table_rename(self, node: Any, in_view: bool, targets: list[str], sources: list[str]) -> None:
        old, new = node.oldName(), node.newName()
        old_name = self._table_identifier(old)
        targets.append(old_name)
        if _option(new.database()) is not None:
            targets.append(self._table_identifier(new))
        elif old_name.startswith("system.session."):
            targets.append(_join(["system", "session", new.table()]))
        else:
            targets.append(_join([*self._split(old_name)[:-1], new.table()]))

    def _rename_table(self, node: Any, in_view: bool, targets: list[str], sources: list[str]) -> None:
        old_names = self._names(node.child(), _node_name(node.child()))
        targets.extend(old_names)
        new_parts = _strings(node.newName())
        if old_names and old_names[0].startswith("system.session."):
            targets.append(_join(["system", "session", new_parts[-1]]))
        elif old_names:
            old_parts = self._split(old_names[0])
            # A new name is relative to the old one's catalog (and namespace, when unqualified).
            targets.append(
                _join([old_parts[0], *(new_parts if len(new_parts) > 1 else [*old_parts[1:-1], *new_parts])])
            )

    # Every other command: what it acts on is among its fields.

    def _fields(
        self, node: Any, name: str, spec: _Command, targets: list[str], sources: list[str], in_view: bool
    ) -> None:
        """Find what a command acts on among its fields; walk the queries it holds."""
        fallback_paths: list[str] = []
        for i in range(node.productArity()):
            field = str(node.productElementName(i))
            value, cls = _unwrapped(node.productElement(i))
            bucket = sources if field in _SOURCE_FIELDS else targets
            if isinstance(value, str):
                self._string_field(name, field, value, bucket, targets, sources)
            elif cls == "org.apache.hadoop.fs.Path":  # where a write goes when no table says it
                fallback_paths.append(self._path(str(value.toString())))
            elif cls:
                self._object_field(name, field, value, cls, spec, bucket, targets, in_view)
        if not targets and fallback_paths:
            targets.extend(fallback_paths)

    def _string_field(
        self, name: str, field: str, value: str, bucket: list[str], targets: list[str], sources: list[str]
    ) -> None:
        if field == "location":  # ALTER TABLE ... SET LOCATION
            targets.append(self._path(value))
        elif field == "path" and name in ("LoadDataCommand", "LoadData"):
            sources.append(self._path(value))
        elif field in (
            "databaseName",
            "db",
        ):  # v1 commands on a whole database (SHOW VIEWS IN d, ANALYZE TABLES IN d)
            bucket.append(self._namespace(["spark_catalog", value]))

    def _object_field(
        self,
        name: str,
        field: str,
        value: Any,
        cls: str,
        spec: _Command,
        bucket: list[str],
        targets: list[str],
        in_view: bool,
    ) -> None:
        simple = cls.rsplit(".", 1)[-1]
        location = None
        if simple == "TableIdentifier":
            bucket.append(self._table_identifier(value))
        elif simple == "FunctionIdentifier":
            if spec.kind is AccessKind.DDL:
                bucket.append(self._function_identifier(value))
        elif simple == "CatalogTable":
            bucket.append(self._table_identifier(value.identifier()))
            if name in _CREATES_TABLE and str(value.tableType().name()) == "EXTERNAL":
                location = _option(value.storage().locationUri())
        elif simple == "CatalogStorageFormat":  # INSERT OVERWRITE DIRECTORY, CREATE TABLE LIKE ... LOCATION
            location = _option(value.locationUri())
        elif simple in ("TableSpec", "UnresolvedTableSpec"):
            location = _option(value.location())
        elif self._is_plan(value):
            self._plan_field(value, field, spec, bucket, in_view)
        if location is not None:
            targets.append(self._path(str(location)))

    def _plan_field(self, value: Any, field: str, spec: _Command, bucket: list[str], in_view: bool) -> None:
        plan = value
        while _node_name(plan) == "SubqueryAlias":
            plan = plan.child()
        kind = _node_name(plan)
        if kind in _NAME_NODES:
            if kind not in _FUNCTION_NAMES or spec.kind is AccessKind.DDL:
                bucket.extend(self._names(plan, kind))
        elif field in _TARGET_FIELDS and (kind in _RELATIONS or kind == "View"):
            writes = (
                spec.writes_targets
                if spec.writes_targets is not None
                else spec.kind is not AccessKind.COMMAND
            )
            if not writes:
                self.walk(plan, in_view)  # CACHE TABLE v: read as a query reads it
            elif kind == "View":
                bucket.append(self._view_name(plan)[0])
            else:
                bucket.extend(self._relation_names(plan, kind))
        else:
            self.walk(value, in_view)

    def _described(self, plan: Any) -> None:
        """EXPLAIN and DESCRIBE QUERY: what the described statement reads or writes, they read."""
        inner = _Analysis(self.spark, self.sql)
        inner.run(plan, self.args)
        self.reads |= inner.reads | inner.writes
        self.view_reads |= inner.view_reads

    def _harmless_setting(self, node: Any) -> bool:
        pair = _option(node.kv())
        if pair is None or _option(pair._2()) is None:
            return True  # SET, SET -v, SET key: reads settings
        key = str(pair._1())
        return key.startswith("spark.sql.") and not key.startswith(_SENSITIVE_SETTINGS)

    # ---- names ----

    def _relation_names(self, node: Any, name: str) -> list[str]:
        if name == "LogicalRelation":
            table = _option(node.catalogTable())
            if table is not None:
                return [self._table_identifier(table.identifier())]
            relation = node.relation()
            if _node_class(relation) == "HadoopFsRelation":
                return [f"path:{p.toString()}" for p in _seq(relation.location().rootPaths())]
            return [f"source:{_node_class(relation)}"]
        if name == "HiveTableRelation":
            return [self._table_identifier(node.tableMeta().identifier())]
        if name == "DataSourceV2ScanRelation":
            return self._relation_names(node.relation(), "DataSourceV2Relation")
        if name == "DataSourceV2Relation":
            catalog, identifier = _option(node.catalog()), _option(node.identifier())
            if catalog is not None and identifier is not None:
                return [self._v2_name(catalog, identifier)]
            return [f"source:{node.table().name()}"]
        return [f"source:{name}"]

    def _names(self, node: Any, name: str) -> list[str]:
        """What a name node names."""
        if name in (
            "ResolvedTable",
            "ResolvedPersistentView",
            "ResolvedIdentifier",
            "ResolvedPersistentFunc",
        ):
            return [self._v2_name(node.catalog(), node.identifier())]
        if name == "ResolvedTempView":
            identifier = node.identifier()
            return [self._temp_view_name(identifier.name(), global_view=len(identifier.namespace()) > 0)]
        if name == "ResolvedNamespace":
            return [self._namespace([node.catalog().name(), *_strings(node.namespace())])]
        if name == "ResolvedNonPersistentFunc":
            return [_join(["system", "session", node.name()])]
        parts = _strings(node.productElement(0))
        if name == "UnresolvedNamespace":
            manager = self.state.catalogManager()
            if not parts:
                parts = [manager.currentCatalog().name(), *manager.currentNamespace()]
            elif not manager.isCatalogRegistered(parts[0]):
                parts = [manager.currentCatalog().name(), *parts]
            return [self._namespace(parts)]
        return [self._resolve(parts)]

    def _namespace(self, parts: list[str]) -> str:
        """A database (or, with the catalog alone, a catalog) as a whole."""
        if (
            len(parts) == 2
            and parts[0].lower() == "spark_catalog"
            and parts[1].lower() == self._global_temp_database()
        ):
            parts = parts[1:]  # global temporary views are global_temp.<name>
        return _join(parts) + ".*"

    def _resolve(self, parts: list[str]) -> str:
        """A multipart name as Spark resolves it in this session (for what the analyzer left unresolved)."""
        manager = self.state.catalogManager()
        if len(parts) == 1:
            if self._is_temp_view(parts[0]):
                return _join(["system", "session", parts[0]])
            return _join([manager.currentCatalog().name(), *manager.currentNamespace(), parts[0]])
        if len(parts) == 2 and parts[0].lower() == self._global_temp_database():
            return self._temp_view_name(parts[1], global_view=True)
        if manager.isCatalogRegistered(parts[0]) or (len(parts) == 3 and parts[0].lower() == "system"):
            return _join(parts)
        return _join([manager.currentCatalog().name(), *parts])

    def _table_identifier(self, identifier: Any) -> str:
        """A v1 TableIdentifier, qualified as Spark's session catalog qualifies it."""
        parts = _strings(identifier.nameParts())  # [[catalog,] database,] table
        table = parts[-1]
        if len(parts) == 1:
            if self._is_temp_view(table):
                return _join(["system", "session", table])
            parts = [str(self.state.catalog().getCurrentDatabase()), table]
        if len(parts) == 2 and parts[0].lower() == self._global_temp_database():
            return self._temp_view_name(table, global_view=True)
        return _join(parts if len(parts) > 2 else ["spark_catalog", *parts])

    def _function_identifier(self, identifier: Any) -> str:
        database = _option(identifier.database())
        if database is None:
            return _join(["system", "session", identifier.funcName()])
        return _join([_option(identifier.catalog()) or "spark_catalog", database, identifier.funcName()])

    def _v2_name(self, catalog: Any, identifier: Any) -> str:
        return _join([catalog.name(), *identifier.namespace(), identifier.name()])

    def _temp_view_name(self, name: str, global_view: bool) -> str:
        """A local or global temporary view's name."""
        if not global_view:
            return _join(["system", "session", name])
        return _join([self._global_temp_database(), name])

    def _is_temp_view(self, name: str) -> bool:
        return bool(self.state.catalog().getTempView(name).isDefined())

    def _global_temp_database(self) -> str:
        if self._global_temp is None:
            self._global_temp = str(self.state.catalog().globalTempDatabase()).lower()
        return self._global_temp

    def _path(self, location: str) -> str:
        """``path:`` and ``location`` qualified with its file system (as written when that fails)."""
        try:
            if self._hadoop_conf is None:
                self._hadoop_conf = self.state.newHadoopConf()
            path = self.jvm.path(location)
            return f"path:{path.getFileSystem(self._hadoop_conf).makeQualified(path).toString()}"
        except Exception:  # noqa: BLE001 - an unknown scheme: the location as written
            return f"path:{location}"

    @staticmethod
    def _split(name: str) -> list[str]:
        """The parts of a name made by :func:`_join`."""
        parts: list[str] = []
        current = ""
        quoted = False
        i = 0
        while i < len(name):
            char = name[i]
            if char == "`":
                if quoted and name.startswith("``", i):
                    current += "`"
                    i += 2
                    continue
                quoted = not quoted
            elif char == "." and not quoted:
                parts.append(current)
                current = ""
            else:
                current += char
            i += 1
        parts.append(current)
        return parts


def _node_class(value: Any) -> str:
    return str(value.getClass().getSimpleName()).rstrip("$")
