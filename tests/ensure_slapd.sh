#!/usr/bin/env bash
# Makes sure OpenLDAP's server (slapd) and tools are installed for the LDAP authenticator tests.
#
# Idempotent: does nothing when slapd is already there. Installs the Debian packages `slapd` and
# `ldap-utils` only when running as root on a machine with apt-get; otherwise it says what to install
# and exits 0 (tests/test_auth_ldap.py then skips). The tests start their own slapd on a free
# loopback port, so the package's own service is kept from starting (policy-rc.d) and stopped if it
# started anyway.
set -u

find_slapd() {
    command -v slapd 2>/dev/null || { [ -x /usr/sbin/slapd ] && echo /usr/sbin/slapd; } || true
}

existing="$(find_slapd)"
if [ -n "$existing" ]; then
    echo "ensure_slapd: slapd is installed ($existing)"
    exit 0
fi

if [ "$(id -u)" != "0" ] || ! command -v apt-get >/dev/null 2>&1; then
    echo "ensure_slapd: slapd is not installed and this is not root with apt-get;" \
        "install the packages 'slapd' and 'ldap-utils' to run the LDAP tests (they skip otherwise)"
    exit 0
fi

# Keep the package's postinst from starting its own slapd service: invoke-rc.d asks policy-rc.d,
# and exit code 101 means "action forbidden". Never replace a policy the machine already has.
policy=/usr/sbin/policy-rc.d
own_policy=0
if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod 755 "$policy" && own_policy=1
    echo "ensure_slapd: wrote $policy so the package does not start its slapd service"
fi
cleanup() {
    if [ "$own_policy" = 1 ]; then
        rm -f "$policy"
        echo "ensure_slapd: removed $policy"
    fi
}
trap cleanup EXIT

export DEBIAN_FRONTEND=noninteractive
install_packages() {
    apt-get install -y --no-install-recommends slapd ldap-utils
}
echo "ensure_slapd: installing slapd ldap-utils with apt-get"
if ! install_packages; then
    echo "ensure_slapd: install failed; running apt-get update and retrying"
    if ! { apt-get update && install_packages; }; then
        echo "ensure_slapd: could not install slapd ldap-utils; the LDAP tests will skip"
        exit 0
    fi
fi

# If the service started anyway (no invoke-rc.d, or a machine policy that allowed it), stop it.
pidfile=/run/slapd/slapd.pid
[ -e "$pidfile" ] || pidfile=/var/run/slapd/slapd.pid
if [ -e "$pidfile" ]; then
    pid="$(cat "$pidfile" 2>/dev/null || true)"
    if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
        echo "ensure_slapd: stopping the package's slapd service (pid $pid)"
        if command -v invoke-rc.d >/dev/null 2>&1 && [ "$own_policy" = 0 ]; then
            invoke-rc.d slapd stop || true
        fi
        if kill -0 "$pid" 2>/dev/null; then
            kill "$pid" 2>/dev/null || true
            for _ in $(seq 1 100); do
                kill -0 "$pid" 2>/dev/null || break
                sleep 0.1
            done
        fi
    fi
fi
if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
    systemctl disable --now slapd >/dev/null 2>&1 && echo "ensure_slapd: disabled the slapd systemd service"
fi

echo "ensure_slapd: slapd installed ($(find_slapd))"
exit 0
