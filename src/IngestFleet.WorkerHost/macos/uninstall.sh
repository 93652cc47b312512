#!/bin/bash
# Stops the worker (it drains in-flight batches, up to the plist's ExitTimeOut) and removes the daemon.
#   sudo ./macos/uninstall.sh [--purge]   (--purge also removes /opt/ingestfleet and the _ingestfleet user)
set -euo pipefail
[ "$(id -u)" -eq 0 ] || { echo "uninstall.sh: run as root (sudo)"; exit 1; }
label=com.ingestfleet.worker
launchctl bootout system/$label 2>/dev/null || true
rm -f /Library/LaunchDaemons/$label.plist /etc/newsyslog.d/ingestfleet.conf
if [ "${1:-}" = "--purge" ]; then
  rm -rf /opt/ingestfleet
  dscl . -delete /Users/_ingestfleet 2>/dev/null || true
  dscl . -delete /Groups/_ingestfleet 2>/dev/null || true
fi
echo "removed $label"
