#!/usr/bin/env bash
# Repository checks that are not unit tests, run by tests/run.sh after the build. Each check prints one line,
# "check ok: NAME" or "check FAILED: NAME: why", and counts as one passed or failed test in the final tally
# (written to $CHECKS_RESULT as "passed failed").
set -uo pipefail
cd "$(dirname "$0")/.."
passed=0; failed=0
ok() { echo "check ok: $1"; passed=$((passed + 1)); }
fail() { echo "check FAILED: $1: $2"; failed=$((failed + 1)); }

# Portable restore: no nuget.config may name a package source that is a local path (NU1301 on every other machine).
check_nuget_sources() {
  local bad
  bad=$(git ls-files -- '*nuget.config' '*NuGet.config' '*NuGet.Config' | while read -r f; do
    grep -oE 'value="[^"]+"' "$f" | sed 's/value="//; s/"$//' | grep -vE '^https?://' | sed "s|^|$f: |"
  done)
  if [ -z "$bad" ]; then ok "nuget.config names only http(s) package sources"; else fail "nuget.config local sources" "$bad"; fi
}

# A deployable's transitive packages must exclude a list of others. Args: NAME PROJECT ANCHOR_PACKAGE REGEX WHAT.
check_packages() {
  local out heavy
  out=$(dotnet list "$2" package --include-transitive 2>&1)
  if ! grep -q "$3" <<<"$out"; then fail "$1 packages" "dotnet list gave no package list: $out"; return; fi
  heavy=$(grep -oiE "$4" <<<"$out" | sort -u | tr '\n' ' ')
  if [ -z "$heavy" ]; then ok "$1's transitive packages exclude $5"; else fail "$1 packages" "pulls in $heavy"; fi
}
# The gateway must not ship the worker's heavy dependencies; the worker host carries the runtime only (the operator's
# tools, IngestFleet.Operations with its charts, statistics and CSV, stay in the CLI and the benchmarks).
tools_packages='ScottPlot[A-Za-z.]*|SkiaSharp[A-Za-z.]*|MathNet\.Numerics|CsvHelper'
check_deployable_packages() {
  check_packages gateway src/IngestFleet.Gateway/IngestFleet.Gateway.csproj Microsoft.AspNetCore.OpenApi \
    "Microsoft\.ML\.OnnxRuntime[A-Za-z.]*|SixLabors\.ImageSharp|AWSSDK\.S3|Parquet\.Net|$tools_packages" \
    "ONNX Runtime, ImageSharp, AWSSDK.S3, Parquet.Net and the operator tools' packages"
  check_packages "worker host" src/IngestFleet.WorkerHost/IngestFleet.WorkerHost.csproj MassTransit.RabbitMQ "$tools_packages" \
    "ScottPlot, SkiaSharp, MathNet.Numerics, CsvHelper"
}

# The release script builds the osx-arm64 worker bundle: checksums verify, the executable and ONNX Runtime's native
# library are Mach-O arm64, that library carries the Core ML EP, and the launchd files travel with it.
check_osx_bundle() {
  local out="$work/release" bundle dir
  if ! bash .ci/release.sh --out "$out" worker:osx-arm64 >"$work/release.log" 2>&1; then
    fail "osx-arm64 worker bundle" "release.sh failed: $(tail -5 "$work/release.log")"; return
  fi
  (cd "$out" && sha256sum -c --quiet SHA256SUMS) || { fail "osx-arm64 worker bundle" "SHA256SUMS does not verify"; return; }
  bundle=$(ls "$out"/ingestfleet-worker-*-osx-arm64.tar.gz)
  tar -C "$work" -xzf "$bundle"
  dir="$work/$(basename "$bundle" .tar.gz)"
  local problems=""
  file "$dir/ingestfleet-worker" | grep -q "Mach-O 64-bit arm64 executable" || problems+="ingestfleet-worker is not a Mach-O arm64 executable; "
  file "$dir/libonnxruntime.dylib" | grep -q "Mach-O 64-bit arm64" || problems+="libonnxruntime.dylib is not Mach-O arm64; "
  grep -qa "CoreMLExecutionProvider" "$dir/libonnxruntime.dylib" || problems+="libonnxruntime.dylib has no Core ML EP; "
  file "$dir/libvips.42.dylib" | grep -q "Mach-O 64-bit" || problems+="libvips.42.dylib (the fast JPEG path) is missing or not Mach-O; "
  for f in VERSION run-worker.sh macos/com.ingestfleet.worker.plist macos/install.sh macos/uninstall.sh macos/worker.env.example \
           macos/newsyslog-ingestfleet.conf models/clip-tiny-r1/manifest.json; do
    [ -e "$dir/$f" ] || problems+="missing $f; "
  done
  [ -x "$dir/run-worker.sh" ] || problems+="run-worker.sh is not executable; "
  local unsigned
  unsigned=$(python3 .ci/lib/check_deploy.py macho-signed "$dir/ingestfleet-worker" "$dir/libonnxruntime.dylib") || problems+="$unsigned; "
  if [ -z "$problems" ]; then ok "osx-arm64 worker bundle: $(basename "$bundle"), $(du -h "$bundle" | cut -f1), Mach-O arm64 with the Core ML EP and libvips, the executable and ORT code-signed (LC_CODE_SIGNATURE), launchd files, SHA256SUMS verified"
  else fail "osx-arm64 worker bundle" "$problems"; fi
}

# Reproducible release: two release.sh runs of one commit, into different folders, give the same SHA256SUMS.
check_reproducible_release() {
  local a="$work/repro-a" b="$work/repro-b"
  for d in "$a" "$b"; do
    bash .ci/release.sh --out "$d" gateway:linux-x64 >"$d.log" 2>&1 || { fail "reproducible release" "release.sh failed: $(tail -5 "$d.log")"; return; }
  done
  if cmp -s "$a/SHA256SUMS" "$b/SHA256SUMS"; then
    ok "reproducible release: two release.sh runs give identical SHA256SUMS ($(cut -c1-16 "$a/SHA256SUMS")… $(awk '{print $2}' "$a/SHA256SUMS"))"
  else
    fail "reproducible release" "SHA256SUMS differ: $(cat "$a/SHA256SUMS" "$b/SHA256SUMS" | tr '\n' ' ')"
  fi
}

check_launchd_plist() {
  local problems
  if problems=$(python3 .ci/lib/check_deploy.py plist src/IngestFleet.WorkerHost/macos/com.ingestfleet.worker.plist 60); then
    ok "launchd plist parses (plistlib) with KeepAlive, ExitTimeOut > 60 s drain, log paths, env file, non-root user"
  else fail "launchd plist" "$problems"; fi
  for script in src/IngestFleet.WorkerHost/macos/*.sh; do
    bash -n "$script" || { fail "launchd scripts" "$script has a syntax error"; return; }
  done
  ok "launchd install/uninstall/run scripts parse (bash -n)"
}

# Each Dockerfile: static rules (multi-stage, no SDK in the final stage, numeric non-root user, health check,
# multi-arch, restore layer), then its build stage is run here by dockerfile_run.py (restore from the restore layer's
# files alone, then publish --no-restore for the target architecture) into artifacts/images/NAME, which the
# render-and-run tests start as the container would. The worker is also built for arm64 (what an Apple Silicon
# laptop's `compose up --build` makes), and the CUDA image's base must match the CUDA major version the ORT GPU
# provider links (its DT_NEEDED libcublas.so.N / libcudart.so.N, read with readelf).
check_dockerfiles() {
  local dockerfile report binary name arch dir image
  for spec in worker:src/IngestFleet.WorkerHost/Dockerfile:amd64 worker-arm64:src/IngestFleet.WorkerHost/Dockerfile:arm64 \
              worker-cuda:src/IngestFleet.WorkerHost/Dockerfile.cuda:amd64 gateway:src/IngestFleet.GatewayHost/Dockerfile:amd64; do
    IFS=: read -r name dockerfile arch <<<"$spec"
    if ! report=$(python3 .ci/lib/check_deploy.py dockerfile "$dockerfile"); then fail "$dockerfile" "$(tr '\n' ';' <<<"$report")"; continue; fi
    binary=$(sed -n 's/^BINARY //p' <<<"$report")
    dir="artifacts/images/$name"
    if ! python3 .ci/lib/dockerfile_run.py "$dockerfile" "$dir" --arch "$arch" >"$work/$name.log" 2>&1; then
      fail "$dockerfile ($arch)" "its build stage failed: $(tail -5 "$work/$name.log" | tr '\n' ' ')"; continue
    fi
    image="$dir/stages/final"
    if [ ! -f "$image$binary" ]; then fail "$dockerfile ($arch)" "its entrypoint ${binary} is not in the final stage"; continue; fi
    local extra=""
    case "$arch" in
      amd64) file -L "$image$binary" | grep -q "x86-64" || { fail "$dockerfile ($arch)" "$binary is not x86-64: $(file -L "$image$binary")"; continue; } ;;
      arm64) file -L "$image$binary" | grep -q "aarch64" || { fail "$dockerfile ($arch)" "$binary is not aarch64: $(file -L "$image$binary")"; continue; }
             file -L "$image/app/libonnxruntime.so" | grep -q "aarch64" || { fail "$dockerfile ($arch)" "libonnxruntime.so is not aarch64"; continue; }
             extra+=" aarch64 binaries and ONNX Runtime" ;;
    esac
    if [[ "$dockerfile" == *cuda* ]]; then
      local provider="$image/app/libonnxruntime_providers_cuda.so" needed base_major
      [ -f "$provider" ] || { fail "$dockerfile" "no libonnxruntime_providers_cuda.so in the CUDA publish"; continue; }
      needed=$(readelf -d "$provider" | sed -n 's/.*Shared library: \[libcudart\.so\.\([0-9]*\)\].*/\1/p')
      base_major=$(sed -n 's/^FROM nvidia\/cuda:\([0-9]*\)\..*/\1/p' "$dockerfile")
      if [ -z "$needed" ] || [ "$needed" != "$base_major" ] || ! readelf -d "$provider" | grep -q "libcublas.so.$needed"; then
        fail "$dockerfile" "the CUDA provider links libcudart.so.${needed:-?} but the base image is CUDA ${base_major:-?}"; continue
      fi
      extra+=" with the CUDA EP (links libcudart.so.$needed and libcublas.so.$needed = base image CUDA $base_major)"
    fi
    if [[ "$dockerfile" == *WorkerHost* ]]; then
      [ -f "$image/app/libvips.so.42" ] || { fail "$dockerfile ($arch)" "no libvips.so.42 (the fast JPEG path) in the worker publish"; continue; }
      extra+=" and libvips"
    fi
    ok "$dockerfile ($arch): multi-stage, numeric non-root user, health check, restore layer; its build stage ran here and built ${binary}${extra}"
  done
}

# services.sh on a machine where no optional tool can be installed (apt-get held by another process's lock, npm
# refused, no docker-compose): it must skip each (DuckDB, the reference tokenizers, helm, the Kubernetes schemas,
# docker-compose) with a reason and still succeed, so the suite runs what it can.
check_services_optional_tools() {
  local bin="$work/no-tools-bin" tool out rc
  mkdir -p "$bin"
  for tool in bash mkdir python3 tar chmod rm mv sleep cat; do ln -sf "$(command -v "$tool")" "$bin/$tool"; done
  printf '#!/bin/sh\necho "E: Could not get lock /var/lib/dpkg/lock-frontend (simulated)" >&2\nexit 100\n' >"$bin/apt-get"
  printf '#!/bin/sh\necho "npm ERR! network (simulated)" >&2\nexit 1\n' >"$bin/npm"
  chmod +x "$bin/apt-get" "$bin/npm"
  out=$(env -i PATH="$bin" HOME="$work/home" INGESTFLEET_TOOLS="$work/no-tools" APT_LOCK_WAIT=1 \
        INGESTFLEET_TEST_RABBITMQ=amqp://unused INGESTFLEET_TEST_S3=http://unused \
        "$bin/bash" -c 'source .ci/services.sh; echo "rc=$?"; echo "helm=${INGESTFLEET_HELM:-} duck=${INGESTFLEET_TEST_DUCKDB_DIR:-} compose=${INGESTFLEET_DOCKER_COMPOSE:-} k8s=${INGESTFLEET_K8S_SCHEMAS:-} tokenizers=${INGESTFLEET_TEST_TOKENIZERS_DIR:-}"' 2>&1)
  rc=$(sed -n 's/^rc=//p' <<<"$out")
  if [ "$rc" = 0 ] && [ "$(grep -c '^services: skipping ' <<<"$out")" = 5 ] && grep -q '^helm= duck= compose= k8s= tokenizers=$' <<<"$out"; then
    ok "services.sh skips DuckDB, the reference tokenizers, helm, the Kubernetes schemas and docker-compose with a reason when they cannot be installed, and still succeeds"
  else fail "services.sh optional tools" "$(tr '\n' '|' <<<"$out")"; fi
}

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
check_nuget_sources
check_services_optional_tools
check_deployable_packages
check_launchd_plist
check_osx_bundle
check_reproducible_release
check_dockerfiles
echo "checks: $passed passed, $failed failed"
[ -n "${CHECKS_RESULT:-}" ] && echo "$passed $failed" >"$CHECKS_RESULT"
[ "$failed" -eq 0 ]
