"""Find a Java runtime that Spark 4 can run on, or say exactly what to install.

This module uses the standard library only, so that it also runs as a plain script
(``python3 flightsql/devtools/java.py``) before any virtual environment exists.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys

MINIMUM_JAVA = 17

INSTALL_HINT = (
    f"Spark 4 needs Java {MINIMUM_JAVA} or newer. Install a JDK or JRE "
    f"(for example `apt-get install openjdk-{MINIMUM_JAVA}-jre-headless` on Debian or Ubuntu, "
    f"`brew install openjdk@{MINIMUM_JAVA}` on macOS), then put `java` on PATH or set JAVA_HOME."
)


class JavaNotFoundError(RuntimeError):
    """No usable Java runtime: missing, broken, or older than :data:`MINIMUM_JAVA`."""


def java_executable() -> str | None:
    """The ``java`` that Spark will launch: ``$JAVA_HOME/bin/java`` first, then PATH."""
    home = os.environ.get("JAVA_HOME")
    if home:
        candidate = os.path.join(home, "bin", "java")
        return candidate if os.access(candidate, os.X_OK) else None
    return shutil.which("java")


def parse_java_version(text: str) -> int | None:
    """The major version from ``java -version`` output (``1.8.0_392`` is 8, ``17.0.15`` is 17)."""
    match = re.search(r'version "(\d+)(?:\.(\d+))?', text)
    if not match:
        return None
    major = int(match.group(1))
    if major == 1 and match.group(2):
        return int(match.group(2))
    return major


def check_java() -> int:
    """Return the major version of the usable Java, or raise :class:`JavaNotFoundError`."""
    java = java_executable()
    if java is None:
        where = (
            "JAVA_HOME does not point at a Java installation"
            if os.environ.get("JAVA_HOME")
            else "no `java` on PATH"
        )
        raise JavaNotFoundError(f"Java not found ({where}). {INSTALL_HINT}")
    try:
        result = subprocess.run([java, "-version"], capture_output=True, text=True, timeout=60, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise JavaNotFoundError(f"`{java} -version` failed: {exc}. {INSTALL_HINT}") from exc
    version = parse_java_version(result.stderr + result.stdout)
    if version is None:
        raise JavaNotFoundError(f"Could not read the version of {java}. {INSTALL_HINT}")
    if version < MINIMUM_JAVA:
        raise JavaNotFoundError(f"{java} is Java {version}, which is too old. {INSTALL_HINT}")
    return version


def main() -> int:
    """Script entry point: exit 0 with a short line when Java is fine, 1 with the install hint otherwise."""
    try:
        version = check_java()
    except JavaNotFoundError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"Java {version} found.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
