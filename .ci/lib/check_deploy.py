#!/usr/bin/env python3
"""Static checks of the deploy files that cannot run on this machine (no Docker engine, no Mac).

  check_deploy.py plist PATH DRAIN_SECONDS      launchd property list: parses (plistlib) and has the keys a node needs
  check_deploy.py macho-signed PATH...          each file is a 64-bit Mach-O (thin, or every slice of a fat one) that
                                                carries a code signature load command (LC_CODE_SIGNATURE): macOS on Apple
                                                Silicon refuses to run unsigned arm64 code; whether the signature is valid
                                                is for `codesign --verify` on a Mac
  check_deploy.py dockerfile PATH               multi-stage, no SDK in the final stage, numeric non-root USER,
                                                HEALTHCHECK, multi-arch (SDK on $BUILDPLATFORM, publish -a $TARGETARCH),
                                                a restore layer; prints the publish command and the entrypoint binary
                                                (dockerfile_run.py then runs the build stage)
Exit status 0 when the file passes; otherwise the problems are printed one per line.
"""
import plistlib
import re
import shlex
import sys


def check_plist(path, drain):
    problems = []
    with open(path, "rb") as f:
        d = plistlib.load(f)
    for key in ["Label", "ProgramArguments", "KeepAlive", "ExitTimeOut", "StandardOutPath", "StandardErrorPath", "UserName", "RunAtLoad"]:
        if key not in d:
            problems.append(f"missing key {key}")
    if d.get("KeepAlive") not in (True,) and not isinstance(d.get("KeepAlive"), dict):
        problems.append("KeepAlive must be true (or a dictionary of conditions)")
    if not isinstance(d.get("ExitTimeOut"), int) or d["ExitTimeOut"] <= drain:
        problems.append(f"ExitTimeOut {d.get('ExitTimeOut')} must exceed the worker's drain budget of {drain} s")
    args = d.get("ProgramArguments", [])
    if not any(a.endswith(".env") for a in args):
        problems.append("ProgramArguments must pass the environment file")
    if d.get("UserName") in (None, "root"):
        problems.append("the worker must not run as root")
    return problems


def check_dockerfile(path):
    problems = []
    lines = []
    with open(path) as f:
        text = f.read().replace("\\\n", " ")
    for raw in text.splitlines():
        s = raw.strip()
        if s and not s.startswith("#"):
            lines.append(s)
    stages = [i for i, l in enumerate(lines) if l.upper().startswith("FROM ")]
    if len(stages) < 2:
        problems.append("not multi-stage (one FROM)")
        return problems, None, None
    final = lines[stages[-1]:]
    build = lines[stages[0]:stages[-1]]
    base = [t for t in final[0].split()[1:] if not t.startswith("--platform")][0]
    if "/sdk" in base:
        problems.append(f"the final stage is built on the SDK image {base}")
    users = [l.split()[1] for l in final if l.upper().startswith("USER ")]
    if not users or users[-1] in ("root", "0"):
        problems.append("the final stage must switch to a non-root USER")
    if not any(l.upper().startswith("HEALTHCHECK ") for l in final):
        problems.append("no HEALTHCHECK in the final stage")
    if not any(l.upper().startswith("COPY --FROM=") for l in final):
        problems.append("the final stage does not copy the build stage's output")
    publish = [l[4:].strip() for l in build if l.upper().startswith("RUN ") and "dotnet publish" in l]
    if len(publish) != 1:
        problems.append("the build stage must run exactly one dotnet publish")
        return problems, None, None
    # Multi-arch: the SDK stage runs on the build machine's platform and publishes for the target architecture.
    if "--platform=$BUILDPLATFORM" not in build[0]:
        problems.append("the SDK stage must be FROM --platform=$BUILDPLATFORM (it publishes for $TARGETARCH)")
    if not any(l.upper().startswith("ARG TARGETARCH") for l in build):
        problems.append("the build stage must declare ARG TARGETARCH")
    if "-a $TARGETARCH" not in publish[0] or re.search(r"(?:-r|--runtime)\s+linux-", publish[0]):
        problems.append("dotnet publish must target -a $TARGETARCH, not a fixed runtime identifier")
    # A restore layer: `dotnet restore` runs before the whole context is copied, and the publish does not restore again.
    copy_all = next((i for i, l in enumerate(build) if re.match(r"COPY\s+\.\s+\.", l, re.I)), None)
    restore = next((i for i, l in enumerate(build) if l.upper().startswith("RUN ") and "dotnet restore" in l), None)
    if restore is None or copy_all is None or restore > copy_all:
        problems.append("no restore layer: RUN dotnet restore must come before COPY . .")
    if "--no-restore" not in publish[0]:
        problems.append("the publish must use --no-restore (the restore layer did it)")
    if users and not re.fullmatch(r"\$\{?APP_UID\}?|[1-9][0-9]*", users[-1]):
        problems.append(f"USER {users[-1]}: use a numeric user (the .NET images' $APP_UID) so a kubelet can verify runAsNonRoot")
    entry = [l for l in final if l.upper().startswith("ENTRYPOINT ")]
    binary = None
    if entry:
        m = re.search(r'\["([^"]+)"', entry[-1])
        binary = m.group(1) if m else None
    if not binary:
        problems.append("no ENTRYPOINT in exec form")
    return problems, publish[0], binary


LC_CODE_SIGNATURE = 0x1D


def macho_signed(path):
    """Problems with a Mach-O file's signature load command (mach-o/loader.h: LC_CODE_SIGNATURE 0x1d)."""
    import struct
    with open(path, "rb") as f:
        data = f.read()
    def slices():
        magic = struct.unpack_from(">I", data, 0)[0]
        if magic in (0xCAFEBABE, 0xCAFEBABF):  # fat: big-endian header, one entry per architecture
            n = struct.unpack_from(">I", data, 4)[0]
            size = 20 if magic == 0xCAFEBABE else 32
            for i in range(n):
                if magic == 0xCAFEBABE:
                    _, _, off, _, _ = struct.unpack_from(">iiIII", data, 8 + i * size)
                else:
                    _, _, off, _, _, _ = struct.unpack_from(">iiQQII", data, 8 + i * size)
                yield off
        else:
            yield 0
    problems = []
    for off in slices():
        if struct.unpack_from("<I", data, off)[0] != 0xFEEDFACF:
            problems.append(f"{path}: slice at {off} is not a 64-bit little-endian Mach-O")
            continue
        ncmds = struct.unpack_from("<I", data, off + 16)[0]
        at, cmds = off + 32, []
        for _ in range(ncmds):
            cmd, size = struct.unpack_from("<II", data, at)
            cmds.append(cmd)
            at += size
        if LC_CODE_SIGNATURE not in cmds:
            problems.append(f"{path}: no LC_CODE_SIGNATURE (unsigned: Apple Silicon will not run it)")
    return problems


if __name__ == "__main__":
    kind, path = sys.argv[1], sys.argv[2]
    if kind == "plist":
        found = check_plist(path, int(sys.argv[3]))
        for p in found:
            print(p)
        sys.exit(1 if found else 0)
    if kind == "macho-signed":
        found = [p for f in sys.argv[2:] for p in macho_signed(f)]
        for p in found:
            print(p)
        sys.exit(1 if found else 0)
    if kind == "dockerfile":
        found, publish, binary = check_dockerfile(path)
        for p in found:
            print(p)
        if found:
            sys.exit(1)
        # For the caller: the publish command (its -o DIR replaced by the caller) and the entrypoint.
        print("PUBLISH " + publish)
        print("BINARY " + binary)
        sys.exit(0)
    print(__doc__)
    sys.exit(2)
