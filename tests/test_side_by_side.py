"""The distribution installs beside anything: its names are its own, and so is its descriptor pool.

A wheel of this project is installed into a fresh virtual environment together with
flightsql-dbapi (a popular Flight SQL client that installs a top-level ``flightsql`` package and
registers the Flight SQL protos in protobuf's default pool). One process imports both, in
either order, starts a node and reads it with flightsql-dbapi and ADBC. The fresh environment
reuses this one's dependencies (pyspark, pyarrow, ...) through a path entry, not its packages'
own ``.pth`` hooks, so the project itself comes only from the wheel.
"""

from __future__ import annotations

import json
import os
import site
import subprocess
import sys
import venv
import zipfile
from pathlib import Path

import pytest
from support import ROOT
from support.processes import run_command

CLIENT = Path(__file__).parent / "clients" / "side_by_side.py"
INSTALL_TIMEOUT = 900.0
RUN_TIMEOUT = 900.0
# Above pytest-timeout's default: the first test also builds the wheel and the environment (two installs).
pytestmark = pytest.mark.timeout(2 * INSTALL_TIMEOUT + RUN_TIMEOUT + 300)


def _run(args: list[str], timeout: float, **kwargs: object) -> subprocess.CompletedProcess[str]:
    """Run ``args`` in a session of its own (ended with everything it started past ``timeout``)."""
    result = run_command(args, timeout=timeout, text=True, **kwargs)
    assert result.returncode == 0, f"{args[:4]} failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    return result


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    _run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",
            "-w",
            str(out),
            str(ROOT),
        ],
        INSTALL_TIMEOUT,
    )
    (built,) = out.glob("spark_flight_sql-*.whl")
    return built


@pytest.fixture(scope="module")
def user_env(tmp_path_factory: pytest.TempPathFactory, wheel: Path) -> Path:
    """A fresh environment holding this project's wheel and flightsql-dbapi; returns its python."""
    home = tmp_path_factory.mktemp("user-env")
    venv.EnvBuilder(with_pip=False).create(home)
    python = home / "bin" / "python"
    _run(
        [
            sys.executable,
            "-m",
            "pip",
            "--python",
            str(python),
            "install",
            "--quiet",
            "--no-deps",
            str(wheel),
            "flightsql-dbapi==0.2.2",
        ],
        INSTALL_TIMEOUT,
    )
    (own_site,) = (home / "lib").glob("python*/site-packages")
    # Dependencies come from this environment, after the fresh one's own packages.
    (own_site / "zz_test_dependencies.pth").write_text("\n".join(site.getsitepackages()) + "\n")
    return python


def test_the_wheel_installs_only_names_of_its_own(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as archive:
        tops = {name.split("/", 1)[0] for name in archive.namelist()}
    assert {top for top in tops if not top.endswith(".dist-info")} == {
        "spark_flight_sql",
        "pyspark_flightsql.py",
    }
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
    assert "spark_flight_sql/flightsql/proto/FlightSql_pb2.py" in names
    assert "spark_flight_sql/flightmanager/py.typed" in names


@pytest.mark.parametrize("order", ["dbapi-first", "ours-first"])
def test_one_process_imports_both_and_serves(user_env: Path, order: str) -> None:
    env = {**os.environ, "PYSPARK_PYTHON": str(user_env)}
    env.pop("PYTHONPATH", None)
    result = _run([str(user_env), str(CLIENT), order], RUN_TIMEOUT, env=env, cwd=user_env.parent.parent)
    report = json.loads(result.stdout.strip().splitlines()[-1])
    home = user_env.parent.parent
    assert Path(report["flightsql"]).is_relative_to(home), (
        "flightsql must be flightsql-dbapi's, from the fresh environment"
    )
    assert report["dbapi_version"] == "0.2.2"
    assert Path(report["spark_flight_sql"]).is_relative_to(home), "the project must come from its wheel"
    assert report["dbapi_rows"] == [{"id": i, "twice": 2 * i} for i in range(3)]
    assert report["adbc_rows"] == [[10]]
