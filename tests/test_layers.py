"""The architecture holds: layers, import cycles, what executors load, and the one import namespace.

Computed from the source (``ast``, the modules found by walking the package folders) and from
real imports in fresh interpreters:

- the layers: ``spark_flight_sql.flightmanager`` knows nothing of the Flight SQL front end or the
  data source (DESIGN.md: "Knows nothing of SQL");
- no import cycles among the packages' modules, nor among the benchmark scripts;
- nothing outside ``tests/`` reaches into ``tests/`` (by import or by ``sys.path``);
- the code an executor runs (a data source read or write, a result push) loads neither kazoo nor
  the driver side (:data:`DRIVER_ONLY` says what that is, and why pyspark itself is allowed), and
  the data source's modules import only light modules at module level;
- the project's packages are imported only as ``spark_flight_sql.<package>``: a bare
  ``flightsql`` is flightsql-dbapi's package, and running the bare name with ``python -m`` in the
  project folder would load this project's modules a second time under another name.

What counts as an import: every ``import``/``from ... import`` statement anywhere in a module, at
module level, inside a function or class, or under ``if TYPE_CHECKING:``, and
``importlib.import_module("...")``/``__import__("...")`` with a literal name. Each import records
where it sits (:class:`Where`), because the checks weigh them differently:

- Layers count every import. A lower layer that names an upper layer's type in an annotation, or
  imports it inside a function to avoid the cost at import time, still depends on it.
- Cycles count what runs: module-level and function-level imports, not ``TYPE_CHECKING`` ones.
  A cycle through a function-level import is a real cycle that only hides from the interpreter
  (whether it breaks depends on which module is imported first, and on which function runs
  while the other module is half initialized); deferring an import is for cost, not for
  tangling two modules. ``TYPE_CHECKING`` imports never execute, and annotations may
  legitimately point both ways (a callback type named by the module that calls it), so they
  are left out. Module-level imports alone are checked too, so that a failure says which kind
  of cycle it is.
"""

from __future__ import annotations

import ast
import enum
import itertools
import json
import re
import subprocess
import sys
import textwrap
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
NAMESPACE = "spark_flight_sql"
PACKAGES = ("flightmanager", "flightsql", "datasource")
"""The top-level folders that ``spark_flight_sql/`` links to (DESIGN.md's layout)."""
BARE_NAME_EXCEPTIONS = {"tests/clients/flightsql_dbapi_query.py"}
"""Uses flightsql-dbapi, whose own package is named ``flightsql``."""
SKIPPED_DIRS = {
    ".git",
    ".venv",
    "build",
    "dist",
    "__pycache__",
    ".mypy_cache",
    ".ruff_cache",
    ".pytest_cache",
}


class Where(enum.Enum):
    """Where an import statement sits in its module."""

    MODULE = "module level"
    FUNCTION = "inside a function"
    TYPE_CHECKING = "under TYPE_CHECKING"


@dataclass(frozen=True)
class Import:
    """One import in ``file`` (relative to the project): the absolute dotted ``name`` it brings in
    (a module, or a name in one)."""

    file: str
    line: int
    name: str
    where: Where

    def __str__(self) -> str:
        return f"{self.file}:{self.line} imports {self.name} ({self.where.value})"


# ---------------------------------------------------------------------------------------------
# Reading the source


def project_python_files(*folders: str) -> list[Path]:
    """The ``.py`` files under the project's ``folders``, symlinks not followed (``spark_flight_sql/``
    only links to the package folders, which are read where they are)."""
    found: list[Path] = []
    for root in (ROOT / folder for folder in folders):
        stack = [root]
        while stack:
            folder = stack.pop()
            for entry in sorted(folder.iterdir()):
                if entry.is_symlink():
                    continue
                if entry.is_dir() and entry.name not in SKIPPED_DIRS and not entry.name.endswith(".egg-info"):
                    stack.append(entry)
                elif entry.is_file() and entry.suffix == ".py":
                    found.append(entry)
    return sorted(found)


def package_module_name(path: Path) -> str:
    """``flightsql/auth/basic.py`` -> ``spark_flight_sql.flightsql.auth.basic`` (``__init__`` is the package)."""
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join([NAMESPACE, *parts])


def _is_type_checking(test: ast.expr) -> bool:
    if isinstance(test, ast.Name):
        return test.id == "TYPE_CHECKING"
    return isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"


def _absolute(module: str | None, level: int, importer: str, is_package: bool) -> str:
    """The absolute name of ``from <level dots><module> import ...`` written in module ``importer``."""
    if level == 0:
        return module or ""
    base = importer.split(".")
    base = base if is_package else base[:-1]
    base = base[: len(base) - (level - 1)]
    return ".".join([*base, module] if module else base)


def _literal_import(call: ast.Call) -> str | None:
    """The module named by ``importlib.import_module("x")`` or ``__import__("x")``, if literal."""
    func = call.func
    name = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else None
    if name not in {"import_module", "__import__"} or not call.args:
        return None
    first = call.args[0]
    if isinstance(first, ast.Constant) and isinstance(first.value, str):
        return first.value
    return None


class _ImportVisitor(ast.NodeVisitor):
    def __init__(self, file: str, module: str) -> None:
        self.file = file
        self.module = module
        self.is_package = Path(file).name == "__init__.py"
        self.where = Where.MODULE
        self.found: list[Import] = []

    def _add(self, line: int, name: str) -> None:
        self.found.append(Import(self.file, line, name, self.where))

    def _inside(self, where: Where, nodes: Iterable[ast.AST]) -> None:
        outer, self.where = self.where, where if self.where is Where.MODULE else self.where
        for node in nodes:
            self.visit(node)
        self.where = outer

    def visit_FunctionDef(self, node: ast.FunctionDef) -> None:
        self._inside(Where.FUNCTION, node.body)

    def visit_AsyncFunctionDef(self, node: ast.AsyncFunctionDef) -> None:
        self._inside(Where.FUNCTION, node.body)

    def visit_Lambda(self, node: ast.Lambda) -> None:
        self._inside(Where.FUNCTION, [node.body])

    def visit_If(self, node: ast.If) -> None:
        if _is_type_checking(node.test):
            self._inside(Where.TYPE_CHECKING, node.body)
            self._inside(self.where, node.orelse)
        else:
            self.generic_visit(node)

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            self._add(node.lineno, alias.name)

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        base = _absolute(node.module, node.level, self.module, self.is_package)
        for alias in node.names:
            self._add(node.lineno, base if alias.name == "*" else f"{base}.{alias.name}")

    def visit_Call(self, node: ast.Call) -> None:
        name = _literal_import(node)
        if name is not None:
            self._add(node.lineno, name)
        self.generic_visit(node)


def imports_in(source: str, file: str, module: str) -> list[Import]:
    """Every import in ``source``, the text of ``file`` whose module name is ``module``."""
    visitor = _ImportVisitor(file, module)
    visitor.visit(ast.parse(source, filename=file))
    return visitor.found


def imports_of(path: Path, module: str) -> list[Import]:
    """Every import in the project's file at ``path``, whose module name is ``module``."""
    return imports_in(path.read_text(encoding="utf-8"), str(path.relative_to(ROOT)), module)


def resolve(name: str, modules: Iterable[str]) -> str | None:
    """The module of ``modules`` that importing ``name`` runs: ``name`` itself, or the longest
    prefix of it that is a module (``from pkg.mod import function`` runs ``pkg.mod``)."""
    known = set(modules)
    parts = name.split(".")
    for end in range(len(parts), 0, -1):
        candidate = ".".join(parts[:end])
        if candidate in known:
            return candidate
    return None


@dataclass(frozen=True)
class Graph:
    """Modules and the imports between them, each edge with the import statements behind it."""

    modules: dict[str, Path]
    imports: dict[str, list[Import]]

    def edges(self, kinds: set[Where]) -> dict[str, dict[str, list[Import]]]:
        """importer -> imported module -> the statements, counting imports of ``kinds`` only."""
        edges: dict[str, dict[str, list[Import]]] = {module: {} for module in self.modules}
        for module, found in self.imports.items():
            for item in found:
                if item.where not in kinds:
                    continue
                target = resolve(item.name, self.modules)
                if target is not None and target != module:
                    edges[module].setdefault(target, []).append(item)
        return edges


def package_graph() -> Graph:
    """The modules of the three packages under their ``spark_flight_sql`` names."""
    modules = {package_module_name(path): path for path in project_python_files(*PACKAGES)}
    return Graph(modules, {module: imports_of(path, module) for module, path in modules.items()})


def benchmark_graph() -> Graph:
    """The benchmark scripts, which import each other as top-level modules (``import harness``)
    with ``benchmarks/`` on ``sys.path``, or as ``benchmarks.<name>``."""
    paths = {path.stem: path for path in project_python_files("benchmarks")}
    found = {name: imports_of(path, name) for name, path in paths.items()}
    aliases = {f"benchmarks.{name}": name for name in paths}
    # One node per script: benchmarks.harness and harness are the same file.
    canonical = {
        name: [Import(item.file, item.line, _unalias(item.name, aliases), item.where) for item in items]
        for name, items in found.items()
    }
    return Graph(paths, canonical)


def _unalias(name: str, aliases: dict[str, str]) -> str:
    for alias, canonical in aliases.items():
        if name == alias or name.startswith(alias + "."):
            return canonical + name[len(alias) :]
    return name


def strongly_connected(edges: dict[str, dict[str, list[Import]]]) -> list[list[str]]:
    """Tarjan's strongly connected components of more than one module (the import cycles)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in edges.get(node, {}):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return cycles


def describe_cycles(cycles: list[list[str]], edges: dict[str, dict[str, list[Import]]]) -> str:
    """Each cycle with the import statements that close it."""
    lines = []
    for component in cycles:
        members = set(component)
        lines.append("cycle: " + ", ".join(component))
        for module in component:
            for target, statements in sorted(edges[module].items()):
                if target in members:
                    lines.extend(f"    {statement}" for statement in statements)
    return "\n".join(lines)


RUNTIME = {Where.MODULE, Where.FUNCTION}


# ---------------------------------------------------------------------------------------------
# The layers


def test_the_graph_is_read_from_the_source() -> None:
    graph = package_graph()
    for package in PACKAGES:
        assert f"{NAMESPACE}.{package}" in graph.modules
    # A function-level import and a TYPE_CHECKING one are both seen, and classified.
    reader = graph.imports[f"{NAMESPACE}.datasource.reader"]
    kinds = {(item.name, item.where) for item in reader}
    assert (f"{NAMESPACE}.datasource.client.connect", Where.FUNCTION) in kinds
    assert ("pyspark.sql.types.StructType", Where.TYPE_CHECKING) in kinds
    edges = graph.edges(RUNTIME)
    assert f"{NAMESPACE}.datasource.client" in edges[f"{NAMESPACE}.datasource.reader"]


def test_a_cycle_is_found_and_explained() -> None:
    statement = Import("x.py", 1, "b", Where.FUNCTION)
    edges = {"a": {"b": [statement]}, "b": {"a": [statement]}, "c": {"a": []}}
    assert strongly_connected(edges) == [["a", "b"]]
    assert "x.py:1 imports b (inside a function)" in describe_cycles([["a", "b"]], edges)
    assert strongly_connected({"a": {"b": []}, "b": {}}) == []


def test_the_flightmanager_imports_nothing_of_the_layers_above_it() -> None:
    graph = package_graph()
    above = (f"{NAMESPACE}.flightsql", f"{NAMESPACE}.datasource")
    wrong = [
        str(item)
        for module, found in graph.imports.items()
        if module == f"{NAMESPACE}.flightmanager" or module.startswith(f"{NAMESPACE}.flightmanager.")
        for item in found
        if any(item.name == upper or item.name.startswith(upper + ".") for upper in above)
    ]
    assert not wrong, "the FlightManager knows nothing of SQL:\n" + "\n".join(wrong)


@pytest.mark.parametrize(
    ("kinds", "label"),
    [({Where.MODULE}, "module-level imports"), (RUNTIME, "module- and function-level imports")],
)
def test_the_packages_have_no_import_cycles(kinds: set[Where], label: str) -> None:
    edges = package_graph().edges(kinds)
    cycles = strongly_connected(edges)
    assert not cycles, f"import cycles through {label}:\n" + describe_cycles(cycles, edges)


@pytest.mark.parametrize(
    ("kinds", "label"),
    [({Where.MODULE}, "module-level imports"), (RUNTIME, "module- and function-level imports")],
)
def test_the_benchmarks_have_no_import_cycles(kinds: set[Where], label: str) -> None:
    edges = benchmark_graph().edges(kinds)
    cycles = strongly_connected(edges)
    assert not cycles, f"import cycles through {label}:\n" + describe_cycles(cycles, edges)


# ---------------------------------------------------------------------------------------------
# tests/ stays a leaf


def project_files() -> list[Path]:
    """The project's files: what git tracks or would track (ignored files such as build/ left out)."""
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout.decode()
    paths = [ROOT / name for name in listed.split("\0") if name]
    # Links (spark_flight_sql/<package>) are read where they point; deleted files are gone.
    return sorted(path for path in paths if path.is_file() and not path.is_symlink())


def python_files_outside_tests() -> list[Path]:
    return [
        path
        for path in project_files()
        if path.suffix == ".py" and path.relative_to(ROOT).parts[0] != "tests"
    ]


def names_of_tests() -> set[str]:
    """Top-level names that only resolve with ``tests/`` on ``sys.path``, and ``tests`` itself."""
    names = {"tests", "conftest"}
    for entry in (ROOT / "tests").iterdir():
        if entry.suffix == ".py" or (entry.is_dir() and not entry.name.startswith((".", "__"))):
            names.add(entry.stem)
    return names


def _names_tests_folder(node: ast.AST) -> bool:
    """Whether a string in ``node`` names the ``tests`` folder (``"tests"``, ``ROOT / "tests"``, ``"tests/x"``)."""
    return any(
        isinstance(item, ast.Constant)
        and isinstance(item.value, str)
        and "tests" in re.split(r"[/\\:]", item.value)
        for item in ast.walk(node)
    )


def _is_sys_path(node: ast.AST) -> bool:
    target = node.value if isinstance(node, ast.Subscript) else node
    return (
        isinstance(target, ast.Attribute)
        and target.attr == "path"
        and isinstance(target.value, ast.Name)
        and target.value.id == "sys"
    )


def _is_import_path(target: ast.AST) -> bool:
    """``sys.path``, ``sys.path[...]`` or ``<anything>["PYTHONPATH"]`` (``os.environ``, an env dict)."""
    if _is_sys_path(target):
        return True
    return (
        isinstance(target, ast.Subscript)
        and isinstance(target.slice, ast.Constant)
        and target.slice.value == "PYTHONPATH"
    )


def path_changes_to_tests(tree: ast.AST) -> Iterator[int]:
    """Lines that put ``tests/`` on the import path: ``sys.path`` changes, ``site.addsitedir``,
    and a ``PYTHONPATH`` (assigned, or in a dict or a keyword) naming it."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            func = node.func
            on_sys_path = isinstance(func, ast.Attribute) and _is_sys_path(func.value)
            addsitedir = isinstance(func, ast.Attribute) and func.attr == "addsitedir"
            if (on_sys_path or addsitedir) and _names_tests_folder(node):
                yield node.lineno
        elif isinstance(node, ast.Assign | ast.AugAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            if any(_is_import_path(target) for target in targets) and _names_tests_folder(node.value):
                yield node.lineno
        elif isinstance(node, ast.Dict):
            for key, value in zip(node.keys, node.values):
                if isinstance(key, ast.Constant) and key.value == "PYTHONPATH" and _names_tests_folder(value):
                    yield node.lineno
        elif isinstance(node, ast.keyword) and node.arg == "PYTHONPATH" and _names_tests_folder(node.value):
            yield node.value.lineno


def test_the_tests_folder_detectors_work() -> None:
    tree = ast.parse(
        textwrap.dedent(
            """
            import sys, os
            sys.path.insert(0, str(ROOT / "tests"))
            sys.path.append("tests/support")
            sys.path[:0] = [os.path.join(ROOT, "tests")]
            env = {"PYTHONPATH": f"{ROOT}/tests"}
            os.environ["PYTHONPATH"] = "src:tests"
            sys.path.insert(0, str(ROOT / "benchmarks"))
            env = dict(os.environ, PYTHONPATH=str(ROOT))
            env = dict(os.environ, PYTHONPATH=str(ROOT / "tests"))
            """
        )
    )
    assert sorted(set(path_changes_to_tests(tree))) == [3, 4, 5, 6, 7, 10]
    assert {"tests", "conftest", "flightsql_toy_server", "clients"} <= names_of_tests()


def test_nothing_outside_tests_imports_from_tests_or_puts_it_on_the_path() -> None:
    forbidden = names_of_tests()
    wrong: list[str] = []
    files = python_files_outside_tests()
    assert any(path.parent.name == "benchmarks" for path in files)
    for path in files:
        for item in imports_of(path, path.stem):
            if item.name.split(".")[0] in forbidden:
                wrong.append(str(item))
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        wrong.extend(
            f"{path.relative_to(ROOT)}:{line} puts tests/ on the import path"
            for line in path_changes_to_tests(tree)
        )
    assert not wrong, "tests/ is a leaf: code outside it must not depend on it\n" + "\n".join(wrong)


# ---------------------------------------------------------------------------------------------
# One namespace

BARE_NAMES = {"flightsql", "flightmanager", "datasource"}
_BARE_IN_CODE = re.compile(
    r"^\s*(?:>>>\s*)?(?:import\s+(?:flightsql|flightmanager|datasource)\b|from\s+(?:flightsql|flightmanager|datasource)(?:\.\w+)*\s+import\b)",
    re.MULTILINE,
)
_BARE_MODULE_RUN = re.compile(
    r"(?:^|\s)-m\s+(?:flightsql|flightmanager|datasource)(?:\.\w+)*\b", re.MULTILINE
)


def bare_imports_in(source: str, where: str) -> Iterator[str]:
    """Where ``source`` (the file ``where``) imports or runs a bare project name: import statements,
    literal ``import_module`` names, ``["-m", "flightsql..."]`` arguments, and code in strings
    (``python -c`` scripts, doctests)."""
    tree = ast.parse(source, filename=where)
    for item in imports_in(source, where, Path(where).stem):
        if item.name.split(".")[0] in BARE_NAMES:
            yield str(item)
    for node in ast.walk(tree):
        if isinstance(node, ast.List | ast.Tuple):
            values = [e.value if isinstance(e, ast.Constant) else None for e in node.elts]
            for flag, name in itertools.pairwise(values):
                if flag == "-m" and isinstance(name, str) and name.split(".")[0] in BARE_NAMES:
                    yield f"{where}:{node.lineno} runs -m {name}"
        elif (
            isinstance(node, ast.Constant)
            and isinstance(node.value, str)
            and (_BARE_IN_CODE.search(node.value) or _BARE_MODULE_RUN.search(node.value))
        ):
            yield f"{where}:{node.lineno} has code with a bare project name in a string"


def test_the_bare_name_detector_works() -> None:
    # The sample spells the bare names through placeholders, so that this file has none.
    sample = textwrap.dedent(
        """
        '>>> import <ds>'
        import <fs>.server
        from <fm> import FlightManager
        from spark_flight_sql import datasource
        from pyspark.sql import datasource as ds
        importlib.import_module("<fm>.push")
        subprocess.run([sys.executable, "-m", "<fs>", "serve"])
        subprocess.run([sys.executable, "-c", "from <fs>.cli import main"])
        subprocess.run([sys.executable, "-m", "spark_flight_sql.flightsql", "serve"])
        """
    )
    for placeholder, name in {"<ds>": "datasource", "<fs>": "flightsql", "<fm>": "flightmanager"}.items():
        sample = sample.replace(placeholder, name)
    found = list(bare_imports_in(sample, "sample.py"))
    lines = sorted(int(item.split(":")[1].split(" ")[0]) for item in found)
    assert lines == [2, 3, 4, 7, 8, 9], found


def test_the_projects_packages_are_imported_only_through_spark_flight_sql() -> None:
    wrong: list[str] = []
    for path in project_files():
        if path.suffix != ".py" or str(path.relative_to(ROOT)) in BARE_NAME_EXCEPTIONS:
            continue
        wrong.extend(bare_imports_in(path.read_text(encoding="utf-8"), str(path.relative_to(ROOT))))
    # Scripts and build files run modules too (python -m <name>, python -c '<code>').
    for path in project_files():
        if path.suffix in {".py", ".md", ".proto", ".pyi", ".json", ".csv", ".svg", ".png"}:
            continue
        try:
            text = path.read_text(encoding="utf-8")
        except (UnicodeDecodeError, OSError):
            continue
        for match in list(_BARE_MODULE_RUN.finditer(text)) + list(_BARE_IN_CODE.finditer(text)):
            line = text.count("\n", 0, match.start()) + 1
            wrong.append(f"{path.relative_to(ROOT)}:{line}: {match.group(0).strip()}")
    assert not wrong, (
        "import this project's packages as spark_flight_sql.<package> (a bare flightsql is "
        "flightsql-dbapi's package):\n" + "\n".join(wrong)
    )


# ---------------------------------------------------------------------------------------------
# What executors load

EXECUTOR_MODULES = (
    f"{NAMESPACE}.datasource.reader",
    f"{NAMESPACE}.datasource.writer",
    f"{NAMESPACE}.flightmanager.push",
    f"{NAMESPACE}.flightsql.protocol",
)
"""The modules Spark's Python workers import: the data source's reader and writer (unpickled in
every task), the push of result partitions, and the protocol messages both speak."""

DRIVER_ONLY = (
    # The FlightManager's driver and node side: the managers and their coordination, the node's
    # internal server and result buffers, the Spark job and its listener.
    f"{NAMESPACE}.flightmanager.manager",
    f"{NAMESPACE}.flightmanager.local",
    f"{NAMESPACE}.flightmanager.zookeeper",
    f"{NAMESPACE}.flightmanager.membership",
    f"{NAMESPACE}.flightmanager.query_registry",
    f"{NAMESPACE}.flightmanager.cluster_secret",
    f"{NAMESPACE}.flightmanager.shared_records",
    f"{NAMESPACE}.flightmanager.internal_server",
    f"{NAMESPACE}.flightmanager.results",
    f"{NAMESPACE}.flightmanager.reaper",
    f"{NAMESPACE}.flightmanager.spill",
    f"{NAMESPACE}.flightmanager.memory_budget",
    f"{NAMESPACE}.flightmanager.spark_job",
    f"{NAMESPACE}.flightmanager.task_listener",
    # The Flight SQL server: node, service and its handlers, router, authentication, the CLI.
    f"{NAMESPACE}.flightsql.node",
    f"{NAMESPACE}.flightsql.service",
    f"{NAMESPACE}.flightsql.handlers",
    f"{NAMESPACE}.flightsql.router",
    f"{NAMESPACE}.flightsql.standalone",
    f"{NAMESPACE}.flightsql.auth",
    f"{NAMESPACE}.flightsql.authz",
    f"{NAMESPACE}.flightsql.cli",
    # Third-party packages only the driver side uses: ZooKeeper, the CLI, authentication,
    # ADBC, pandas, and Spark Connect's client (grpc).
    "kazoo",
    "click",
    "jwt",
    "ldap3",
    "argon2",
    "adbc_driver_manager",
    "adbc_driver_flightsql",
    "pandas",
    "grpc",
    "pyspark.sql.connect",
    "pyspark.pandas",
)
"""What no executor-side import may load. pyspark itself (and so ``pyspark.sql.session`` and
py4j, which ``import pyspark`` loads) is allowed: a Python worker has imported it before it runs
a data source task or a push (``pyspark.worker``), and the data source's classes subclass
``pyspark.sql.datasource``'s. pyarrow and protobuf are what the data travels in."""


def test_the_driver_only_modules_named_exist() -> None:
    """A renamed module would quietly drop out of the checks below: the list follows the source."""
    modules = package_graph().modules
    missing = [name for name in DRIVER_ONLY if name.startswith(NAMESPACE) and name not in modules]
    assert not missing, f"DRIVER_ONLY names modules that no longer exist: {missing}"


def loaded_modules(script: str) -> list[str]:
    """The modules loaded after ``script`` runs in a fresh interpreter (it may print nothing else)."""
    code = script + "\nimport json as _json, sys as _sys\nprint(_json.dumps(sorted(_sys.modules)))\n"
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr[-4000:]
    loaded: list[str] = json.loads(done.stdout.strip().splitlines()[-1])
    return loaded


def driver_only(loaded: Iterable[str]) -> list[str]:
    return sorted(
        name for name in loaded if any(name == heavy or name.startswith(heavy + ".") for heavy in DRIVER_ONLY)
    )


DATA_SOURCE_MODULE_LEVEL = (
    "pyarrow",
    f"{NAMESPACE}.datasource",
    f"{NAMESPACE}.flightsql.protocol",
    f"{NAMESPACE}.flightsql.proto",
    # The base classes Spark requires (DataSource, DataSourceReader, InputPartition, ...): a
    # Python worker has pyspark loaded already.
    "pyspark.sql.datasource",
)
"""What the data source's modules may import at module level, besides the standard library."""


def test_the_data_source_imports_only_light_modules_at_module_level() -> None:
    """The data source's modules import, when loaded, only the standard library, pyarrow, the
    protocol messages and PySpark's data source base classes; everything else is imported inside
    the method that needs it (``TYPE_CHECKING`` imports never run)."""
    graph = package_graph()
    modules = [name for name in graph.modules if name.startswith(f"{NAMESPACE}.datasource")]
    assert f"{NAMESPACE}.datasource.reader" in modules
    wrong = [
        str(item)
        for module in modules
        for item in graph.imports[module]
        if item.where is Where.MODULE
        and item.name.split(".")[0] not in sys.stdlib_module_names
        and not any(
            item.name == light or item.name.startswith(light + ".") for light in DATA_SOURCE_MODULE_LEVEL
        )
    ]
    assert not wrong, "import these inside the methods that need them:\n" + "\n".join(wrong)


@pytest.mark.parametrize("module", EXECUTOR_MODULES)
def test_importing_an_executor_module_loads_nothing_of_the_driver_side(module: str) -> None:
    loaded = loaded_modules(f"import {module}")
    assert module in loaded
    heavy = driver_only(loaded)
    assert not heavy, f"importing {module} loads the driver side: {heavy}"


def test_the_imports_inside_the_task_methods_load_nothing_of_the_driver_side() -> None:
    """What ``read`` and ``write`` import when they run, read from their source, imported as they would be."""
    graph = package_graph()
    methods = {
        f"{NAMESPACE}.datasource.reader": {"read", "_fetch"},
        f"{NAMESPACE}.datasource.writer": {"write", "_command"},
    }
    needed: set[str] = set()
    for module, names in methods.items():
        tree = ast.parse(graph.modules[module].read_text(encoding="utf-8"))
        functions = [
            node
            for node in ast.walk(tree)
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name in names
        ]
        assert {f.name for f in functions} == names, f"{module} no longer has {names}"
        for function in functions:
            for node in ast.walk(function):
                if isinstance(node, ast.Import):
                    needed.update(alias.name for alias in node.names)
                elif isinstance(node, ast.ImportFrom) and node.module:
                    needed.add(node.module)
    assert f"{NAMESPACE}.datasource.client" in needed
    loaded = loaded_modules("\n".join(f"import {name}" for name in sorted(needed | set(methods))))
    heavy = driver_only(loaded)
    assert not heavy, f"a data source task loads the driver side: {heavy} (it imports {sorted(needed)})"


TASK_SCRIPT = '''
import struct

import pyarrow as pa
import pyarrow.flight as flight
from pyspark.sql.types import LongType, StructField, StructType

from spark_flight_sql.datasource.options import parse_options
from spark_flight_sql.datasource.reader import EndpointPartition, FlightSqlReader
from spark_flight_sql.datasource.writer import FlightSqlWriter

# Built from a buffer: pa.array() and pa.table() import pandas (to check for pandas objects),
# and what is checked is what the task loads.
IDS = pa.Array.from_buffers(pa.int64(), 10, [None, pa.py_buffer(struct.pack("<10q", *range(10)))])
TABLE = pa.Table.from_batches([pa.RecordBatch.from_arrays([IDS], names=["id"])])


class Server(flight.FlightServerBase):
    """A stand-in Flight SQL server: serves TABLE for any ticket, counts ingested rows."""

    def do_get(self, context, ticket):
        return flight.RecordBatchStream(TABLE)

    def do_put(self, context, descriptor, reader, writer):
        from spark_flight_sql.flightsql.proto import FlightSql_pb2

        rows = reader.read_all().num_rows
        writer.write(pa.py_buffer(FlightSql_pb2.DoPutUpdateResult(record_count=rows).SerializeToString()))


server = Server("grpc://127.0.0.1:0")
uri = f"grpc://127.0.0.1:{server.port}"
options = parse_options({"uri": uri, "table": "t"})
schema = StructType([StructField("id", LongType())])
read = FlightSqlReader(options, schema).read(EndpointPartition(0, 1, b"ticket", [uri], []))
assert sum(batch.num_rows for batch in read) == 10
writer = FlightSqlWriter.__new__(FlightSqlWriter)  # __init__ prepares the table: that is the driver's part
writer.options, writer.schema, writer.overwrite = options, schema, False
message = writer.write(iter(TABLE.to_batches()))
assert (message.rows, message.server_count) == (10, 10), message
server.shutdown()
'''


def test_a_task_that_reads_and_writes_loads_nothing_of_the_driver_side() -> None:
    """Runs what an executor runs (a partition's read, a task's write) against a stand-in server."""
    loaded = loaded_modules(TASK_SCRIPT)
    assert f"{NAMESPACE}.datasource.types" in loaded
    heavy = driver_only(loaded)
    assert not heavy, f"a data source task loads the driver side: {heavy}"
