#!/bin/sh
# Debian packages that Vatio needs, installed only when missing. Runs as root
# on a fresh Debian machine; elsewhere it just checks and explains.
set -eu
missing=""
command -v node >/dev/null 2>&1 || missing="$missing nodejs"
command -v npm >/dev/null 2>&1 || missing="$missing npm"
python3 -c "import venv, ensurepip" >/dev/null 2>&1 || missing="$missing python3-venv"
command -v mosquitto >/dev/null 2>&1 || missing="$missing mosquitto"
command -v git >/dev/null 2>&1 || missing="$missing git"
# The browser tests drive Debian's Chromium at this path (Playwright never downloads one).
[ -x /usr/bin/chromium ] || missing="$missing chromium"
if [ -z "$missing" ]; then
    exit 0
fi
if [ "$(id -u)" != 0 ]; then
    echo "missing Debian packages:$missing (run as root, or install them)" >&2
    exit 1
fi
echo "installing Debian packages:$missing"
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing
