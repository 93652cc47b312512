#!/bin/sh
# Started by launchd (com.ingestfleet.worker.plist) and by install.sh for the node doctor:
#   run-worker.sh ENV_FILE [worker arguments…]
# Reads the environment file as data, not as shell: each line is KEY=value (value taken literally up to the end of the
# line, so '&', '$', quotes and spaces in a password stay as written); blank lines and lines starting with # are
# skipped; a line that is not KEY=value stops the start with its line number. Then it replaces itself with the worker,
# so launchd's SIGTERM reaches the worker directly and it can drain.
set -eu
ENV_FILE="${1:-/opt/ingestfleet/etc/worker.env}"
[ $# -gt 0 ] && shift
if [ -f "$ENV_FILE" ]; then
  n=0
  while IFS= read -r line || [ -n "$line" ]; do
    n=$((n + 1))
    line="${line%"$(printf '\r')"}"
    case "$line" in '' | '#'*) continue ;; esac
    key="${line%%=*}"
    value="${line#*=}"
    case "$key" in
      '' | [0-9]* | *[!A-Za-z0-9_]*) echo "run-worker.sh: $ENV_FILE:$n: not KEY=value" >&2; exit 78 ;;
    esac
    [ "$key" = "$line" ] && { echo "run-worker.sh: $ENV_FILE:$n: not KEY=value" >&2; exit 78; }
    export "$key=$value"
  done <"$ENV_FILE"
fi
exec "$(dirname "$0")/ingestfleet-worker" "$@"
