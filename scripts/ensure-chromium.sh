#!/usr/bin/env bash
# The browser tests (the SDK in a page, the portal) drive Debian's Chromium with playwright-core;
# `npx playwright install` cannot work offline. Installs the `chromium` package when it is missing
# and this user may (root, or sudo without a password); otherwise says what to run.
set -euo pipefail
if command -v chromium >/dev/null 2>&1 || [ -n "${POLIS_CHROMIUM:-}" ]; then exit 0; fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  if sudo -n true 2>/dev/null; then SUDO="sudo"; else
    echo "The browser tests need Debian's chromium: run 'sudo apt-get install -y chromium' (or set POLIS_CHROMIUM to a Chromium binary)." >&2
    exit 1
  fi
fi
echo "Installing Debian's chromium for the browser tests..." >&2
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get install -y -qq chromium >/dev/null || { $SUDO apt-get update -qq && $SUDO apt-get install -y -qq chromium >/dev/null; }
