#!/usr/bin/env bash
# Installs what FlowPool needs to build, test and run, only when it is missing.
set -euo pipefail

need=()
for pkg in libzmq3-dev libsqlite3-dev pkg-config python3; do
    dpkg -s "$pkg" >/dev/null 2>&1 || need+=("$pkg")
done
# pyzmq, for the tests' Python client (any install of it will do, pip's too).
python3 -c 'import zmq' >/dev/null 2>&1 || need+=(python3-zmq)
# pip, for the deploy files' validators below; systemd-analyze, for the systemd units'.
python3 -m pip --version >/dev/null 2>&1 || need+=(python3-pip)
command -v systemd-analyze >/dev/null 2>&1 || need+=(systemd)
# `ip`, for the tests that run the pool across network namespaces (Tests/FlowPoolTests/MultiHostTests.swift).
command -v ip >/dev/null 2>&1 || [ -x /usr/sbin/ip ] || [ -x /sbin/ip ] || need+=(iproute2)
# Headless Chromium and chromedriver, for the web view's browser tests (Tests/FlowPoolTests/WebViewTests.swift); only
# with --test (`make test`), as `make demo` needs no browser.
if [ "${1:-}" = "--test" ]; then
    command -v chromium >/dev/null 2>&1 || need+=(chromium)
    command -v chromedriver >/dev/null 2>&1 || need+=(chromium-driver)
fi

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

# The deploy files' validators, from PyPI into .build/pytools (the tests that use them say they are skipped when
# they are absent): kubernetes-validate (the Kubernetes schemas) and the Compose file schema that docker-compose 1.x
# ships (only the schema is used; its dependencies are not installed).
tools=.build/pytools
if ! PYTHONPATH="$tools" python3 -c 'import kubernetes_validate' >/dev/null 2>&1 \
    || [ ! -f "$tools/compose/config/compose_spec.json" ]; then
    echo "Installing the deploy file validators into $tools"
    mkdir -p "$tools"
    python3 -m pip install --quiet --disable-pip-version-check --target "$tools" kubernetes-validate
    python3 -m pip install --quiet --disable-pip-version-check --no-deps --target "$tools" docker-compose==1.29.2
fi
