#!/usr/bin/env bash
# Release bundles: self-contained `dotnet publish` output of each deployable per runtime, as versioned tarballs with
# one SHA256SUMS file.
#   bash .ci/release.sh [--version V] [--out DIR] [TARGET...]
# TARGET is DEPLOYABLE:RID; the default is every one we ship:
#   worker:osx-arm64 worker:linux-x64 worker:linux-arm64 gateway:linux-x64 gateway:linux-arm64
#   cli:osx-arm64 cli:linux-x64 cli:linux-arm64
# Output: DIR/ingestfleet-DEPLOYABLE-VERSION-RID.tar.gz (one top folder of the same name) and DIR/SHA256SUMS.
# The worker bundles carry the bundled models, a VERSION file, and for macOS the launchd files (macos/, run-worker.sh).
# Version: --version, else the <Version> of Directory.Build.props plus the short commit.
# Reproducible: two runs on one commit give byte-identical tarballs (and SHA256SUMS), wherever the checkout lies. The
# build maps source and intermediate paths (ContinuousIntegrationBuild, DeterministicSourcePaths; intermediates under
# the repository, so the map covers them), and tar writes sorted entries with the commit's time, owner 0 and fixed
# modes, gzip without a name or time (-n).
set -euo pipefail
cd "$(dirname "$0")/.."
out=artifacts/release
version=""
targets=()
while [ $# -gt 0 ]; do
  case "$1" in
    --version) version="$2"; shift 2 ;;
    --out) out="$2"; shift 2 ;;
    -h|--help) sed -n '2,10p' "$0"; exit 0 ;;
    *) targets+=("$1"); shift ;;
  esac
done
if [ -z "$version" ]; then
  base=$(sed -n 's:.*<Version>\(.*\)</Version>.*:\1:p' Directory.Build.props | head -1)
  version="${base:-0.0.0}+$(git rev-parse --short HEAD 2>/dev/null || echo local)"
fi
[ ${#targets[@]} -gt 0 ] || targets=(worker:osx-arm64 worker:linux-x64 worker:linux-arm64 gateway:linux-x64 gateway:linux-arm64 cli:osx-arm64 cli:linux-x64 cli:linux-arm64)
mkdir -p "$out"
out=$(cd "$out" && pwd)
stage=$(mktemp -d)
# Intermediates inside the repository (ignored by git): DeterministicSourcePaths maps the repository root to /_/, so
# no build path of this machine reaches a PDB or an assembly.
build="$PWD/artifacts/release-build"
trap 'rm -rf "$stage" "$build"' EXIT
epoch=$(git log -1 --format=%ct 2>/dev/null || echo 0)
# GNU tar (sorted entries, fixed owner and time); macOS's bsdtar has none of those flags: Homebrew's gnu-tar is gtar.
tar=tar
if ! tar --version 2>/dev/null | grep -q "GNU tar"; then
  command -v gtar >/dev/null 2>&1 || { echo "release: needs GNU tar (macOS: brew install gnu-tar)"; exit 1; }
  tar=gtar
fi

for target in "${targets[@]}"; do
  deployable=${target%%:*}; rid=${target#*:}
  case "$deployable" in
    worker) project=src/IngestFleet.WorkerHost/IngestFleet.WorkerHost.csproj ;;
    gateway) project=src/IngestFleet.GatewayHost/IngestFleet.GatewayHost.csproj ;;
    cli) project=src/IngestFleet.Cli/IngestFleet.Cli.csproj ;;
    *) echo "release: unknown deployable '$deployable' (worker, gateway, cli)"; exit 1 ;;
  esac
  name="ingestfleet-$deployable-${version//+/_}-$rid"
  echo "release: $name"
  rm -rf "$build"
  dotnet publish "$project" -c Release -r "$rid" --self-contained true -p:Version="${version%%+*}" \
    -p:InformationalVersion="$version" -p:ContinuousIntegrationBuild=true -p:DeterministicSourcePaths=true \
    --artifacts-path "$build" -o "$stage/$name" -nologo -v quiet
  echo "$version" >"$stage/$name/VERSION"
  if [ "$deployable" = worker ] && [[ "$rid" == osx-* ]]; then
    cp -R src/IngestFleet.WorkerHost/macos "$stage/$name/macos"
    cp src/IngestFleet.WorkerHost/macos/run-worker.sh "$stage/$name/run-worker.sh"
    chmod +x "$stage/$name/run-worker.sh" "$stage/$name/macos/"*.sh
  fi
  "$tar" -C "$stage" --sort=name --mtime="@$epoch" --owner=0 --group=0 --numeric-owner --mode='u+rwX,go+rX,go-w' \
    -cf - "$name" | gzip -n -9 >"$out/$name.tar.gz"
  rm -rf "${stage:?}/$name"
done
(cd "$out" && sha256sum ingestfleet-*.tar.gz >SHA256SUMS)
echo "release: $(ls "$out"/*.tar.gz | wc -l) bundles and SHA256SUMS in $out"
