"""A simulated network on one machine: one Linux network namespace per host, rate-limited links.

Every host is a network namespace (``ip netns``) with one veth pair whose other end joins a bridge in
the root namespace; the bridge holds the private /24's first address, so processes in the root
namespace (the benchmark's client, ZooKeeper) reach every host and every host reaches them. A capped
host's link is limited in both directions with ``tc ... tbf``: its egress on the veth end inside the
namespace, its ingress on the end in the root namespace. Processes start in a host with
``ip netns exec``.

Names carry this process's id (``sfsbench-<pid>-<host>`` namespaces, ``sfsb<pid>...`` links), so
:func:`sweep_stale` can remove what a killed run left behind without touching another live run's.
Closing the network kills every process left in its namespaces, then deletes them and the bridge.
Needs root and iproute2 (``ip``, ``tc``).
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import re
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

NETNS_PREFIX = "sfsbench-"
LINK_PREFIX = "sfsb"
COMMAND_TIMEOUT = 30.0
KILL_TIMEOUT = 20.0
TBF_LATENCY = "10ms"
"""How long a packet may wait in a capped link's queue before tbf drops it: a switch port's buffer of a
few milliseconds. A longer queue delays every small message (task results, ZooKeeper's) behind the bulk
data that fills it."""
SUBNET_BASE = ipaddress.ip_network("10.231.0.0/16")
"""Where the /24 of a run is chosen from (the first /24 no route of this machine overlaps)."""
_HOST_KEY = re.compile(r"^[a-z][a-z0-9]{0,2}$")
_OWNED = re.compile(rf"^(?:{NETNS_PREFIX}(\d+)-|{LINK_PREFIX}(\d+)[a-z])")


class NetworkError(RuntimeError):
    """A command that builds or changes the simulated network failed."""


@dataclass(frozen=True)
class Host:
    """One simulated host: its key (``n1``, ``sw``...), its namespace, its address, its link's root end."""

    key: str
    namespace: str
    address: str
    root_link: str
    capped: bool

    def exec_prefix(self) -> list[str]:
        """The argv prefix that runs a command inside this host."""
        return ["ip", "netns", "exec", self.namespace]


def run(*command: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run an ``ip``/``tc`` command (with a deadline); raise :class:`NetworkError` with its stderr when it fails."""
    result = subprocess.run(command, capture_output=True, text=True, timeout=COMMAND_TIMEOUT, check=False)
    if check and result.returncode != 0:
        raise NetworkError(f"{' '.join(command)} exited {result.returncode}: {result.stderr.strip()}")
    return result


def pid_alive(pid: int) -> bool:
    """Whether ``pid`` runs and is not a zombie (Linux /proc)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def namespaces() -> list[str]:
    """Every network namespace ``ip netns`` knows."""
    return [line.split()[0] for line in run("ip", "netns", "list").stdout.splitlines() if line.strip()]


def links() -> list[str]:
    """Every network interface of the root namespace."""
    names = []
    for line in run("ip", "-o", "link", "show").stdout.splitlines():
        parts = line.split(":", 2)
        if len(parts) > 1:
            names.append(parts[1].strip().split("@", 1)[0])
    return names


def owned_by(pid: int) -> list[str]:
    """The namespaces and root-namespace links a run with process id ``pid`` made and has not removed."""
    return [name for name in namespaces() + links() if owner_of(name) == pid]


def owner_of(name: str) -> int | None:
    """The process id a namespace or link name of this module carries, or None for any other name."""
    match = _OWNED.match(name)
    return None if match is None else int(match.group(1) or match.group(2))


def namespace_pids(namespace: str) -> list[int]:
    """The processes whose network namespace is ``namespace``."""
    result = run("ip", "netns", "pids", namespace, check=False)
    return [int(pid) for pid in result.stdout.split() if pid.isdigit()]


def kill_namespace_processes(namespace: str, timeout: float = KILL_TIMEOUT) -> None:
    """SIGTERM every process in ``namespace``, wait (with a deadline), then SIGKILL what still runs."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        pids = [pid for pid in namespace_pids(namespace) if pid != os.getpid()]
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)
        deadline = time.monotonic() + timeout
        while pids and time.monotonic() < deadline:
            pids = [pid for pid in pids if pid_alive(pid)]
            if pids:
                time.sleep(0.1)
        if not pids:
            return


def delete_namespace(namespace: str) -> None:
    """Kill the namespace's processes, then delete it (its veth pair goes with it)."""
    kill_namespace_processes(namespace)
    run("ip", "netns", "del", namespace, check=False)


def sweep_stale() -> list[str]:
    """Remove the namespaces and links of runs whose process no longer runs; returns their names."""
    removed = []
    for name in namespaces():
        pid = owner_of(name)
        if pid is not None and not pid_alive(pid):
            delete_namespace(name)
            removed.append(name)
    for name in links():
        pid = owner_of(name)
        if pid is not None and not pid_alive(pid):
            run("ip", "link", "del", name, check=False)
            removed.append(name)
    return removed


def netns_unavailable() -> str | None:
    """None when this machine can build the simulated network (root, iproute2, namespaces, veth, tbf),
    else why it cannot."""
    if os.geteuid() != 0:
        return "needs root (ip netns, veth and tc)"
    for tool in ("ip", "tc"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed (iproute2)"
    network = SimulatedNetwork(rate_mbit=100.0, tag="probe")
    try:
        network.open()
        network.add_host("pr", capped=True)
    except (NetworkError, OSError, subprocess.SubprocessError) as error:
        return f"cannot build network namespaces here: {error}"
    finally:
        network.close()
    return None


def free_subnet() -> ipaddress.IPv4Network:
    """The first /24 of :data:`SUBNET_BASE` that no address or route of this machine overlaps."""
    used = []
    for line in run("ip", "-4", "route", "show", "table", "all").stdout.splitlines():
        target = line.split()[0] if line.split() else ""
        if target in ("default", "broadcast", "local", "unreachable"):
            target = line.split()[1] if len(line.split()) > 1 else ""
        with contextlib.suppress(ValueError):
            used.append(ipaddress.ip_network(target, strict=False))
    for subnet in SUBNET_BASE.subnets(new_prefix=24):
        if not any(subnet.overlaps(net) for net in used if net.prefixlen > 0):
            return subnet
    raise NetworkError(f"no free /24 left in {SUBNET_BASE}")


def tbf_burst(rate_mbit: float) -> int:
    """tbf's bucket in bytes: 4 ms of traffic at the rate, at least 8 KiB (a few full-size packets; tbf
    splits larger offloaded segments itself)."""
    return max(8 * 1024, int(rate_mbit * 1e6 / 8 * 0.004))


class SimulatedNetwork:
    """A bridge in the root namespace and one namespace per host; a context manager that tears it all down.

    ``rate_mbit`` caps each capped host's link, in each direction. ``subnet`` defaults to a free /24
    (:func:`free_subnet`); the bridge takes its ``.1``, hosts get addresses in the order they are added
    from ``.11`` on. ``tag`` distinguishes several networks of one process.
    """

    def __init__(self, rate_mbit: float, subnet: ipaddress.IPv4Network | None = None, tag: str = "") -> None:
        """Nothing is created before :meth:`open` (or ``with``)."""
        if rate_mbit <= 0:
            raise ValueError(f"the link rate must be positive: {rate_mbit}")
        self.rate_mbit = rate_mbit
        self.subnet = subnet
        self.pid = os.getpid()
        self.tag = tag
        self.bridge = f"{LINK_PREFIX}{self.pid}{tag[:1]}br"
        self.hosts: dict[str, Host] = {}
        self._opened = False

    @property
    def gateway(self) -> str:
        """The bridge's address: where the hosts reach the root namespace (the client, ZooKeeper)."""
        assert self.subnet is not None, "open() the network first"
        return str(self.subnet.network_address + 1)

    def open(self) -> SimulatedNetwork:
        """Create the bridge (after removing what dead runs left behind)."""
        sweep_stale()
        self.subnet = self.subnet or free_subnet()
        self._opened = True
        run("ip", "link", "add", self.bridge, "type", "bridge")
        run("ip", "addr", "add", f"{self.gateway}/{self.subnet.prefixlen}", "dev", self.bridge)
        run("ip", "link", "set", self.bridge, "up")
        return self

    def add_host(self, key: str, capped: bool) -> Host:
        """A new namespace named after ``key`` (1-3 lower-case letters or digits), joined to the bridge,
        its loopback up, and its link capped when ``capped``."""
        assert self.subnet is not None and self._opened, "open() the network first"
        if not _HOST_KEY.match(key) or key in self.hosts:
            raise ValueError(f"bad or repeated host key {key!r}")
        address = str(self.subnet.network_address + 11 + len(self.hosts))
        host = Host(
            key,
            f"{NETNS_PREFIX}{self.pid}-{self.tag}{key}",
            address,
            f"{LINK_PREFIX}{self.pid}{self.tag[:1]}{key}",
            capped,
        )
        self.hosts[key] = host
        run("ip", "netns", "add", host.namespace)
        run(
            "ip",
            "link",
            "add",
            host.root_link,
            "type",
            "veth",
            "peer",
            "name",
            "eth0",
            "netns",
            host.namespace,
        )
        run("ip", "link", "set", host.root_link, "master", self.bridge, "up")
        run("ip", "-n", host.namespace, "addr", "add", f"{address}/{self.subnet.prefixlen}", "dev", "eth0")
        run("ip", "-n", host.namespace, "link", "set", "eth0", "up")
        run("ip", "-n", host.namespace, "link", "set", "lo", "up")
        if capped:
            self.cap(host)
        return host

    def cap(self, host: Host) -> None:
        """Limit ``host``'s link to the network's rate in both directions."""
        tbf = [
            "root",
            "tbf",
            "rate",
            f"{self.rate_mbit:g}mbit",
            "burst",
            str(tbf_burst(self.rate_mbit)),
            "latency",
            TBF_LATENCY,
        ]
        run(
            "ip", "netns", "exec", host.namespace, "tc", "qdisc", "replace", "dev", "eth0", *tbf
        )  # the host sends
        run("tc", "qdisc", "replace", "dev", host.root_link, *tbf)  # the host receives

    def uncap(self, host: Host) -> None:
        """Remove ``host``'s link limits (both directions)."""
        run("ip", "netns", "exec", host.namespace, "tc", "qdisc", "del", "dev", "eth0", "root", check=False)
        run("tc", "qdisc", "del", "dev", host.root_link, "root", check=False)

    def qdiscs(self, host: Host) -> tuple[str, str]:
        """``tc qdisc show`` of the host's link: (inside the namespace, root end), for checks and reports."""
        inside = run(
            "ip", "netns", "exec", host.namespace, "tc", "qdisc", "show", "dev", "eth0"
        ).stdout.strip()
        return inside, run("tc", "qdisc", "show", "dev", host.root_link).stdout.strip()

    def close(self) -> None:
        """Kill every process left in the hosts, delete their namespaces and the bridge (idempotent)."""
        errors = []
        for host in reversed(list(self.hosts.values())):
            try:
                delete_namespace(host.namespace)
                run("ip", "link", "del", host.root_link, check=False)  # gone with the namespace, normally
            except (NetworkError, OSError, subprocess.SubprocessError) as error:
                errors.append(str(error))
        self.hosts.clear()
        if self._opened:
            run("ip", "link", "del", self.bridge, check=False)
            self._opened = False
        if errors:
            raise NetworkError("; ".join(errors))

    def __enter__(self) -> SimulatedNetwork:
        """Open the network; whatever was made is removed again when opening fails."""
        try:
            return self.open()
        except BaseException:
            self.close()
            raise

    def __exit__(
        self, kind: type[BaseException] | None, value: BaseException | None, traceback: TracebackType | None
    ) -> None:
        """Tear everything down."""
        self.close()
