#!/usr/bin/env bash
# Installs strace (Debian package) for the crash-state check (__test__/crash-states.test.mjs).
# Idempotent: does nothing when strace is already there.
set -euo pipefail
if command -v strace >/dev/null 2>&1; then
    exit 0
fi
SUDO=""
if [ "$(id -u)" != "0" ]; then SUDO="sudo"; fi
$SUDO apt-get update
$SUDO apt-get install -y strace
