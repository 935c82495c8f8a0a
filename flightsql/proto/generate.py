"""Regenerate the protobuf modules of this package from its ``.proto`` files.

Run ``python -m spark_flight_sql.flightsql.proto.generate`` (needs ``grpcio-tools``, a dev dependency) after
editing ``FlightSql.proto`` or ``FlightSession.proto``; ``--check`` only verifies that the
committed modules are what the ``.proto`` files generate today.

Two edits are made to what protoc writes:

- protoc stamps every module with a check that the protobuf runtime is at least as new as
  protoc itself (``runtime_version.ValidateProtobufRuntimeVersion``), which would tie the
  package to the exact grpcio-tools release used here. The check is removed: the generated
  code only uses the descriptor builder API, and was checked to load and round-trip messages
  with protobuf 4.25, 5.26, 5.29, 6.31 and 7.36 (both the upb and the pure-Python backends).
- protoc registers the files in protobuf's process-wide default pool, where any other package
  that compiles ``FlightSql.proto`` (flightsql-dbapi does, under another file name) collides
  with them: "duplicate symbol 'arrow.flight.protocol.sql.SqlInfo'". The modules register in
  :data:`.pool.POOL`, a pool of this package's own. Message names, type URLs and field numbers
  are unchanged, so the wire is the same.
"""

from __future__ import annotations

import argparse
import re
import sys
import tempfile
from pathlib import Path

PROTO_DIR = Path(__file__).resolve().parent
PROTO_FILES = ("FlightSql.proto", "FlightSession.proto")

_HEADER_MARKER = "# NO CHECKED-IN PROTOBUF GENCODE\n"
_HEADER_NOTE = "# Post-processed by flightsql/proto/generate.py (no runtime version check; own pool).\n"
_VERSION_IMPORT = "from google.protobuf import runtime_version as _runtime_version\n"
_VERSION_CHECK = re.compile(r"_runtime_version\.ValidateProtobufRuntimeVersion\(.*?\n\)\n", re.S)
_DEFAULT_POOL = "DESCRIPTOR = _descriptor_pool.Default().AddSerializedFile("
_OWN_POOL = "from .pool import POOL as _own_pool\n"


def _run_protoc(out_dir: Path) -> None:
    from grpc_tools import protoc  # type: ignore[import-untyped]  # - dev dependency without type information, imported only when generating

    args = [
        "grpc_tools.protoc",
        f"-I{PROTO_DIR}",
        f"--python_out={out_dir}",
        f"--pyi_out={out_dir}",
        *PROTO_FILES,
    ]
    if protoc.main(args) != 0:
        raise RuntimeError(f"protoc failed: {' '.join(args)}")


def _post_process(source: str) -> str:
    """Drop protoc's runtime version pin and register in our own pool; keep the rest byte for byte."""
    source, checks = _VERSION_CHECK.subn("", source)
    if checks != 1 or _VERSION_IMPORT not in source or source.count(_DEFAULT_POOL) != 1:
        raise RuntimeError("protoc output changed shape: update flightsql/proto/generate.py")
    source = source.replace(_VERSION_IMPORT, _OWN_POOL)
    source = source.replace(_DEFAULT_POOL, "DESCRIPTOR = _own_pool.AddSerializedFile(")
    return source.replace(_HEADER_MARKER, _HEADER_NOTE)


def generate(out_dir: Path) -> list[Path]:
    """Generate ``*_pb2.py`` and ``*_pb2.pyi`` for every proto file into ``out_dir``."""
    _run_protoc(out_dir)
    written = []
    for proto in PROTO_FILES:
        stem = proto.removesuffix(".proto")
        module = out_dir / f"{stem}_pb2.py"
        module.write_text(_post_process(module.read_text()))
        written += [module, out_dir / f"{stem}_pb2.pyi"]
    return written


def check() -> list[str]:
    """Names of the committed generated files that differ from a fresh generation."""
    with tempfile.TemporaryDirectory() as tmp:
        stale = []
        for fresh in generate(Path(tmp)):
            committed = PROTO_DIR / fresh.name
            if not committed.exists() or committed.read_text() != fresh.read_text():
                stale.append(fresh.name)
        return stale


def main(argv: list[str] | None = None) -> int:
    """Command line entry point; returns the process exit code."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only check the committed files")
    args = parser.parse_args(argv)
    if args.check:
        stale = check()
        if stale:
            print(f"out of date: {', '.join(stale)}; run python -m spark_flight_sql.flightsql.proto.generate")
            return 1
        print("generated protobuf modules are up to date")
        return 0
    for path in generate(PROTO_DIR):
        print(f"wrote {path.relative_to(PROTO_DIR.parent.parent)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
