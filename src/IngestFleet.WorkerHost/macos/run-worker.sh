#!/bin/sh
# Started by launchd (com.ingestfleet.worker.plist): loads the environment file given as $1, then replaces itself
# with the worker, so launchd's SIGTERM reaches the worker directly and it can drain.
set -eu
ENV_FILE="${1:-/opt/ingestfleet/etc/worker.env}"
if [ -f "$ENV_FILE" ]; then
  set -a
  # shellcheck disable=SC1090
  . "$ENV_FILE"
  set +a
fi
exec "$(dirname "$0")/ingestfleet-worker"
