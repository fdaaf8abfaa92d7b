#!/usr/bin/env bash
# Installs what FlowPool needs to build, test and run, only when it is missing.
set -euo pipefail

need=()
for pkg in libzmq3-dev libsqlite3-dev pkg-config python3; do
    dpkg -s "$pkg" >/dev/null 2>&1 || need+=("$pkg")
done
# pyzmq, for the tests' Python client (any install of it will do, pip's too).
python3 -c 'import zmq' >/dev/null 2>&1 || need+=(python3-zmq)
# `ip` and `tc`, for the tests that run the pool across network namespaces (Tests/FlowPoolTests/MultiHostTests.swift).
command -v ip >/dev/null 2>&1 || [ -x /usr/sbin/ip ] || [ -x /sbin/ip ] || need+=(iproute2)

if [ "${#need[@]}" -gt 0 ]; then
    echo "Installing missing packages: ${need[*]}"
    SUDO=""
    [ "$(id -u)" -eq 0 ] || SUDO="sudo"
    export DEBIAN_FRONTEND=noninteractive
    $SUDO apt-get update
    $SUDO apt-get install -y "${need[@]}"
fi

if ! command -v swift >/dev/null 2>&1; then
    echo "error: no Swift toolchain on PATH. Install Swift 6.2 or newer (https://www.swift.org/install) and retry." >&2
    exit 1
fi
