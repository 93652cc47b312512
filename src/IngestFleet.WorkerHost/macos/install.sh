#!/bin/bash
# Installs (or upgrades) the IngestFleet worker as a launchd daemon on a Mac node. Run as root from the unpacked
# osx-arm64 worker bundle:  sudo ./macos/install.sh [--env /path/to/worker.env]
# Layout: /opt/ingestfleet/worker/<version> (current -> it), /opt/ingestfleet/etc/worker.env,
#         /opt/ingestfleet/log, /opt/ingestfleet/var; user and group _ingestfleet; the daemon com.ingestfleet.worker.
set -euo pipefail
[ "$(id -u)" -eq 0 ] || { echo "install.sh: run as root (sudo)"; exit 1; }
[ "$(uname -s)" = "Darwin" ] || { echo "install.sh: this installs a launchd daemon; it runs on macOS only"; exit 1; }
bundle="$(cd "$(dirname "$0")/.." && pwd)"
env_src=""
while [ $# -gt 0 ]; do
  case "$1" in
    --env) env_src="$2"; shift 2 ;;
    *) echo "install.sh: unknown argument $1"; exit 1 ;;
  esac
done
version="$(cat "$bundle/VERSION" 2>/dev/null || echo unversioned)"
root=/opt/ingestfleet
label=com.ingestfleet.worker
plist=/Library/LaunchDaemons/$label.plist

# A system user and group without a login shell or home.
if ! dscl . -read /Groups/_ingestfleet >/dev/null 2>&1; then
  gid=$(dscl . -list /Groups PrimaryGroupID | awk '$2 >= 400 && $2 < 500 {print $2}' | sort -n | tail -1); gid=$(( ${gid:-399} + 1 ))
  dscl . -create /Groups/_ingestfleet PrimaryGroupID "$gid"
fi
if ! dscl . -read /Users/_ingestfleet >/dev/null 2>&1; then
  uid=$(dscl . -list /Users UniqueID | awk '$2 >= 400 && $2 < 500 {print $2}' | sort -n | tail -1); uid=$(( ${uid:-399} + 1 ))
  gid=$(dscl . -read /Groups/_ingestfleet PrimaryGroupID | awk '{print $2}')
  dscl . -create /Users/_ingestfleet UniqueID "$uid"
  dscl . -create /Users/_ingestfleet PrimaryGroupID "$gid"
  dscl . -create /Users/_ingestfleet UserShell /usr/bin/false
  dscl . -create /Users/_ingestfleet NFSHomeDirectory /var/empty
fi

mkdir -p "$root/worker" "$root/etc" "$root/log" "$root/var"
rm -rf "$root/worker/$version"
cp -R "$bundle" "$root/worker/$version"
ln -sfn "$root/worker/$version" "$root/worker/current"
chmod 755 "$root/worker/current/run-worker.sh" "$root/worker/current/ingestfleet-worker"
if [ -n "$env_src" ]; then install -m 640 "$env_src" "$root/etc/worker.env"
elif [ ! -f "$root/etc/worker.env" ]; then install -m 640 "$bundle/macos/worker.env.example" "$root/etc/worker.env"; echo "edit $root/etc/worker.env, then: sudo launchctl kickstart -k system/$label"; fi
chown -R _ingestfleet:_ingestfleet "$root/log" "$root/var"
chown root:_ingestfleet "$root/etc/worker.env"
install -m 644 "$bundle/macos/newsyslog-ingestfleet.conf" /etc/newsyslog.d/ingestfleet.conf

# Check the node before taking traffic: Core ML, model bundle, broker, S3, swap, memory, thread caps.
if ! sudo -u _ingestfleet /bin/bash -c "set -a; . '$root/etc/worker.env'; set +a; '$root/worker/current/ingestfleet-worker' --doctor" ; then
  echo "install.sh: node doctor says this node is not fit (above); the daemon is installed but not started"; exit 2
fi

launchctl bootout system/$label 2>/dev/null || true   # an upgrade drains the running worker first (ExitTimeOut 90 s)
install -m 644 "$bundle/macos/$label.plist" "$plist"
launchctl bootstrap system "$plist"
launchctl enable system/$label
echo "installed $label $version; logs in $root/log; status: sudo launchctl print system/$label"
