"""The ``spark-flight-sql`` command line."""

from __future__ import annotations

import sys

import click


def _parse_conf(ctx: click.Context, param: click.Parameter, values: tuple[str, ...]) -> dict[str, str]:
    conf: dict[str, str] = {}
    for item in values:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise click.BadParameter(f"expected KEY=VALUE, got {item!r}", ctx=ctx, param=param)
        conf[key.strip()] = value
    return conf


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="spark-flight-sql")
def main() -> None:
    """A distributed Arrow Flight SQL server on Apache Spark."""


@main.command()
@click.option("--master", help="Spark master URL (default: local[*], or spark-submit's).")
@click.option(
    "--conf",
    "conf",
    multiple=True,
    callback=_parse_conf,
    metavar="KEY=VALUE",
    help="A Spark conf setting, e.g. spark.flight.port=32010; repeat for more.",
)
@click.option(
    "--data-dir",
    metavar="DIR",
    type=click.Path(file_okay=False, path_type=str),
    help="Where the node keeps its catalog and tables (spark.flight.dataDir; default "
    "~/.local/share/spark-flight-sql). One node per folder.",
)
@click.option(
    "--demo", is_flag=True, help="Create sample tables (database `demo`) to query at once, if not there yet."
)
@click.option(
    "--init-script",
    "init_scripts",
    multiple=True,
    type=click.Path(exists=True, dir_okay=False),
    help="A Python file run with `spark` in scope before serving (register UDFs, views); repeatable.",
)
def serve(
    master: str | None,
    conf: dict[str, str],
    data_dir: str | None,
    demo: bool,
    init_scripts: tuple[str, ...],
) -> None:
    """Run a Flight SQL node until SIGINT or SIGTERM."""
    from spark_flight_sql.flightsql.data_dir import DataConfKey
    from spark_flight_sql.flightsql.node import serve as run

    if data_dir is not None:
        key = DataConfKey.DATA_DIR.value
        if conf.get(key, data_dir) != data_dir:
            raise click.UsageError(f"--data-dir and --conf {key} name different folders: give one")
        conf[key] = data_dir
    try:
        code = run(master, conf, demo, init_scripts)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    sys.exit(code)


@main.command()
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=2181,
    show_default=True,
    help="Client port (0 picks a free one).",
)
@click.option(
    "--data-dir",
    required=True,
    type=click.Path(file_okay=False, path_type=str),
    help="Where ZooKeeper keeps its data (and zookeeper.log); it survives restarts.",
)
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
def zookeeper(port: int, data_dir: str, host: str) -> None:
    """Run a real ZooKeeper server (from PySpark's jars) until SIGINT or SIGTERM, for development."""
    from spark_flight_sql.flightsql.devtools.zookeeper_command import run_zookeeper

    sys.exit(run_zookeeper(port, data_dir, host))


@main.group()
def users() -> None:
    """Manage the users file of spark.flight.auth=basic (nodes reread it when it changes)."""


def _read_password(name: str) -> str:
    if sys.stdin.isatty():
        return str(click.prompt(f"Password for {name}", hide_input=True, confirmation_prompt=True))
    line = sys.stdin.readline()
    return line[:-1] if line.endswith("\n") else line


@users.command("add")
@click.argument("users_file", type=click.Path(dir_okay=False))
@click.argument("name")
def users_add(users_file: str, name: str) -> None:
    """Add NAME to USERS_FILE, or change their password. The password is read from standard input
    (one line; prompted for twice on a terminal), never from the command line."""
    from spark_flight_sql.flightsql.auth.users_file import UsersFile

    try:
        created = UsersFile(users_file).add(name, _read_password(name))
    except (ValueError, OSError) as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"{'added' if created else 'changed the password of'} {name} in {users_file}")


@users.command("remove")
@click.argument("users_file", type=click.Path(dir_okay=False))
@click.argument("name")
def users_remove(users_file: str, name: str) -> None:
    """Remove NAME from USERS_FILE (their tokens stay valid until they expire)."""
    from spark_flight_sql.flightsql.auth.users_file import UsersFile

    try:
        removed = UsersFile(users_file).remove(name)
    except (ValueError, OSError) as exc:
        raise click.ClickException(str(exc)) from None
    if not removed:
        raise click.ClickException(f"{name} is not in {users_file}")
    click.echo(f"removed {name} from {users_file}")


@main.command("secret")
@click.argument("path", type=click.Path(dir_okay=False))
def secret(path: str) -> None:
    """Write a new random cluster secret to PATH (readable by its owner only), for
    spark.flight.auth.secretFile on every node."""
    import os
    import secrets

    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except OSError as exc:
        raise click.ClickException(f"cannot create {path}: {exc.strerror}") from None
    with os.fdopen(fd, "w") as file:
        file.write(secrets.token_urlsafe(48) + "\n")
    click.echo(f"wrote a cluster secret to {path}")


if __name__ == "__main__":
    main()
