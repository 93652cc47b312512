#!/usr/bin/env bash
# The whole test suite on a fresh machine: starts the services the integration tests need (RabbitMQ, an S3 API
# server) unless they are already up or given by environment variables, builds in Release, runs every test project
# and ends with one plain line "N passed, N failed". Exit status is non-zero when anything failed.
set -uo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

if [ -f .ci/services.sh ]; then
  # shellcheck source=/dev/null
  source .ci/services.sh || { echo "service start-up failed"; echo "0 passed, 1 failed"; exit 1; }
fi

dotnet build IngestFleet.sln -c Release -nologo -clp:ErrorsOnly -warnaserror || { echo "build failed"; echo "0 passed, 1 failed"; exit 1; }

results="$root/artifacts/test-results"
rm -rf "$results"; mkdir -p "$results"
CHECKS_RESULT="$results/checks.txt" bash .ci/checks.sh
read -r checks_passed checks_failed <"$results/checks.txt" 2>/dev/null || { checks_passed=0; checks_failed=1; }
# One test project after the other: two test processes at once on two cores only make both slower. (No test compares
# measured times: gate logic is tested on recorded inputs, performance in tests/IngestFleet.Benchmarks.)
status=0
for project in tests/IngestFleet.Tests/IngestFleet.Tests.csproj tests/IngestFleet.IntegrationTests/IngestFleet.IntegrationTests.csproj; do
  dotnet test "$project" -c Release --no-build -nologo --logger "trx" --results-directory "$results" \
    --logger "console;verbosity=normal" >>"$results/console.log" 2>&1 || status=$?
done
# Each failure with the first lines of its message, so a CI log names the cause.
grep -E -A4 '^\s+Failed [^ ]+\.[^ ]+ \[' "$results/console.log" | grep -v -E '^\s+Stack Trace:|^\s+at ' || true
grep -E '^(Passed|Failed)!' "$results/console.log" || true

passed=0; failed=0; skipped=0
for trx in "$results"/*.trx; do
  [ -f "$trx" ] || continue
  counters=$(grep -o '<Counters [^>]*>' "$trx" | head -1)
  p=$(sed -n 's/.* passed="\([0-9]*\)".*/\1/p' <<<"$counters"); f=$(sed -n 's/.* failed="\([0-9]*\)".*/\1/p' <<<"$counters")
  s=$(sed -n 's/.* notExecuted="\([0-9]*\)".*/\1/p' <<<"$counters")
  passed=$((passed + ${p:-0})); failed=$((failed + ${f:-0})); skipped=$((skipped + ${s:-0}))
done
if [ "$status" -ne 0 ] && [ "$failed" -eq 0 ]; then failed=1; fi
passed=$((passed + checks_passed)); failed=$((failed + checks_failed))
if [ "$passed" -eq 0 ] && [ "$failed" -eq 0 ]; then echo "no test ran"; failed=1; fi
echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
