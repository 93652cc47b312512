#!/bin/bash
# Installs (or upgrades) the IngestFleet worker as a launchd daemon on a Mac node. Run as root from the unpacked,
# verified osx-arm64 worker bundle (README, "Mac node from download"):
#   sudo ./macos/install.sh [--env /path/to/worker.env]
# Layout: /opt/ingestfleet/worker/<version> (current -> it), /opt/ingestfleet/etc/worker.env (640 root:_ingestfleet),
#         /opt/ingestfleet/log (750), /opt/ingestfleet/var/{models,coreml-cache} (the daemon's writable state);
#         a hidden system user and group _ingestfleet; the daemon com.ingestfleet.worker.
# Order, as launchd expects: the node doctor first, on the new build from its own folder (a node that is not fit keeps
# the version `current` points at, and nothing is started or restarted), then `current` moves to the new build, then
# any running daemon is booted out (it drains: ExitTimeOut 90 s), the service is enabled, and only then bootstrapped
# (bootstrapping a disabled service fails; `enable` alone starts nothing). INGESTFLEET_INSTALL_PREFIX puts every path
# under another root (the test suite installs into a scratch folder with stand-ins for dscl and launchctl).
set -euo pipefail
prefix="${INGESTFLEET_INSTALL_PREFIX:-}"
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
root=$prefix/opt/ingestfleet
label=com.ingestfleet.worker
plist=$prefix/Library/LaunchDaemons/$label.plist
user=_ingestfleet

# A hidden system user and group: no login shell, no password, no home (/var/empty), not shown at the login window.
if ! dscl . -read /Groups/$user >/dev/null 2>&1; then
  gid=$(dscl . -list /Groups PrimaryGroupID | awk '$2 >= 400 && $2 < 500 {print $2}' | sort -n | tail -1); gid=$(( ${gid:-399} + 1 ))
  dscl . -create /Groups/$user PrimaryGroupID "$gid"
  dscl . -create /Groups/$user Password '*'
  dscl . -create /Groups/$user RealName "IngestFleet worker"
fi
if ! dscl . -read /Users/$user >/dev/null 2>&1; then
  uid=$(dscl . -list /Users UniqueID | awk '$2 >= 400 && $2 < 500 {print $2}' | sort -n | tail -1); uid=$(( ${uid:-399} + 1 ))
  gid=$(dscl . -read /Groups/$user PrimaryGroupID | awk '{print $2}')
  dscl . -create /Users/$user UniqueID "$uid"
  dscl . -create /Users/$user PrimaryGroupID "$gid"
  dscl . -create /Users/$user UserShell /usr/bin/false
  dscl . -create /Users/$user NFSHomeDirectory /var/empty
  dscl . -create /Users/$user Password '*'
  dscl . -create /Users/$user RealName "IngestFleet worker"
  dscl . -create /Users/$user IsHidden 1
fi

mkdir -p "$root/worker" "$root/etc" "$root/log" "$root/var/models" "$root/var/coreml-cache"
new="$root/worker/$version"
[ "$(readlink "$root/worker/current" 2>/dev/null)" = "$new" ] && new="$root/worker/$version.reinstall"
rm -rf "$new"
cp -R "$bundle" "$new"
chmod 755 "$new/run-worker.sh" "$new/ingestfleet-worker"
if [ -n "$env_src" ]; then install -m 640 "$env_src" "$root/etc/worker.env"
elif [ ! -f "$root/etc/worker.env" ]; then install -m 640 "$bundle/macos/worker.env.example" "$root/etc/worker.env"; echo "edit $root/etc/worker.env, then rerun install.sh"; fi
chown root:$user "$root/etc/worker.env"
chmod 640 "$root/etc/worker.env"
chown -R $user:$user "$root/log" "$root/var"
chmod 750 "$root/log" "$root/var"
mkdir -p "$prefix/etc/newsyslog.d"
install -m 644 "$bundle/macos/newsyslog-ingestfleet.conf" "$prefix/etc/newsyslog.d/ingestfleet.conf"

# Check the node before taking traffic, as the daemon will run: the same user, the same launcher, the same env file
# (read as data), the plist's own environment: Core ML, model bundle, broker, S3, paging, memory, thread caps.
# The new build is checked from its own folder; `current` (what launchd starts, and restarts) moves to it only once
# the doctor passed, so a failed upgrade leaves the running version in place.
doctor_env=(INGESTFLEET_MODELS="$new/models" IngestFleet__ModelBundle__CacheDirectory="$root/var/models"
            IngestFleet__Embedder__CoreMLCacheDirectory="$root/var/coreml-cache")
if ! (cd "$root/var" && sudo -u $user env "${doctor_env[@]}" "$new/run-worker.sh" "$root/etc/worker.env" --doctor); then
  echo "install.sh: node doctor says this node is not fit (above); $new is installed, current still points at $(readlink "$root/worker/current" 2>/dev/null || echo nothing), nothing was started"
  exit 2
fi
if [ "$new" != "$root/worker/$version" ]; then rm -rf "${root:?}/worker/$version"; mv "$new" "$root/worker/$version"; new="$root/worker/$version"; fi
ln -sfn "$new" "$root/worker/current"

mkdir -p "$(dirname "$plist")"
launchctl bootout system/$label 2>/dev/null || true   # an upgrade drains the running worker first (ExitTimeOut 90 s)
install -m 644 "$bundle/macos/$label.plist" "$plist"
launchctl enable system/$label                        # before bootstrap: a disabled service refuses to bootstrap
launchctl bootstrap system "$plist"
echo "installed $label $version; logs in $root/log; status: sudo launchctl print system/$label"
