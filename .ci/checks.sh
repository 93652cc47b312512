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

# The gateway must not ship the worker's heavy dependencies.
check_gateway_packages() {
  local out heavy
  out=$(dotnet list src/IngestFleet.Gateway/IngestFleet.Gateway.csproj package --include-transitive 2>&1)
  if ! grep -q "Microsoft.AspNetCore.OpenApi" <<<"$out"; then fail "gateway packages" "dotnet list gave no package list: $out"; return; fi
  heavy=$(grep -oiE 'Microsoft\.ML\.OnnxRuntime[A-Za-z.]*|SixLabors\.ImageSharp|AWSSDK\.S3|Parquet\.Net' <<<"$out" | sort -u | tr '\n' ' ')
  if [ -z "$heavy" ]; then ok "gateway's transitive packages exclude ONNX Runtime, ImageSharp, AWSSDK.S3, Parquet.Net"
  else fail "gateway packages" "pulls in $heavy"; fi
}

check_nuget_sources
check_gateway_packages
echo "checks: $passed passed, $failed failed"
[ -n "${CHECKS_RESULT:-}" ] && echo "$passed $failed" >"$CHECKS_RESULT"
[ "$failed" -eq 0 ]
