#!/usr/bin/env python3
"""Runs a Dockerfile of this repository without a container engine, as far as this machine can: its build stages'
instructions (ARG, WORKDIR, COPY from the context, RUN) are executed in a scratch folder that stands in for the
image's file system, and its final stage is described as the container would start (user, working directory,
environment, entrypoint, exposed ports) in image.json, with the build stage's output where COPY --from puts it.

  dockerfile_run.py DOCKERFILE OUT [--arch amd64|arm64] [--context DIR]

The build stage's RUN commands run here, in order, with the image paths they name (/src, /app, ...) mapped into OUT.
So the restore layer really restores from the few files it copied before `COPY . .` (a project it forgot fails the
`--no-restore` publish that follows), and the publish really targets --arch. What cannot run here: the base images
themselves. Their environment is taken from what their Dockerfiles set (BASE_ENV below, with the source named).
Exit status 0 and OUT/image.json on success; otherwise the failing instruction and its output.
"""
import fnmatch
import json
import os
import re
import shlex
import shutil
import subprocess
import sys

# Environment the base images set (what a container started from them has before the Dockerfile's own ENV lines).
# mcr.microsoft.com/dotnet/aspnet:10.0 is built FROM runtime FROM runtime-deps; dotnet/dotnet-docker,
# src/runtime-deps/10.0/noble/amd64/Dockerfile sets APP_UID=1654, ASPNETCORE_HTTP_PORTS=8080 and
# DOTNET_RUNNING_IN_CONTAINER=true (and creates the user app with that UID); src/runtime/10.0/... adds DOTNET_VERSION.
BASE_ENV = {
    "mcr.microsoft.com/dotnet/aspnet:10.0": {"APP_UID": "1654", "ASPNETCORE_HTTP_PORTS": "8080", "DOTNET_RUNNING_IN_CONTAINER": "true"},
    # NVIDIA's CUDA images (gitlab.com/nvidia/container-images/cuda, dist/13.0.2/ubuntu2404/base/Dockerfile): the
    # driver capabilities for the NVIDIA container toolkit; no user is created.
    "nvidia/cuda:13.0.2-cudnn-runtime-ubuntu24.04": {"NVIDIA_VISIBLE_DEVICES": "all", "NVIDIA_DRIVER_CAPABILITIES": "compute,utility"},
}


def instructions(path):
    text = open(path).read().replace("\\\n", " ")
    out = []
    for raw in text.splitlines():
        s = raw.strip()
        if s and not s.startswith("#"):
            word, _, rest = s.partition(" ")
            out.append((word.upper(), rest.strip()))
    return out


def dockerignore(context):
    path = os.path.join(context, ".dockerignore")
    if not os.path.exists(path):
        return []
    return [l.strip().rstrip("/") for l in open(path) if l.strip() and not l.startswith("#")]


def ignored(rel, patterns):
    for p in patterns:
        bare = p[3:] if p.startswith("**/") else p
        parts = rel.split("/")
        if p.startswith("**/"):
            if any(fnmatch.fnmatch("/".join(parts[i:i + bare.count("/") + 1]), bare) for i in range(len(parts))):
                return True
        elif fnmatch.fnmatch(rel, bare) or rel.startswith(bare + "/"):
            return True
    return False


def expand(value, variables):
    return re.sub(r"\$\{?([A-Za-z_][A-Za-z0-9_]*)\}?", lambda m: variables.get(m.group(1), m.group(0)), value)


class Stage:
    def __init__(self, name, root):
        self.name, self.root, self.workdir, self.env, self.args = name, root, "/", {}, {}

    def host(self, image_path):
        """Where an absolute image path lives in this stage's stand-in file system."""
        return os.path.join(self.root, image_path.lstrip("/"))

    def resolve(self, p):
        return p if p.startswith("/") else os.path.normpath(os.path.join(self.workdir, p))


def copy_from_context(context, sources, dest_dir, patterns):
    for src in sources:
        full = os.path.normpath(os.path.join(context, src))
        if os.path.isdir(full):
            for d, dirs, files in os.walk(full):
                reld = os.path.relpath(d, context)
                dirs[:] = [x for x in dirs if not ignored(os.path.normpath(os.path.join(reld, x)), patterns)]
                for f in files:
                    rel = os.path.normpath(os.path.join(reld, f))
                    if ignored(rel, patterns):
                        continue
                    target = os.path.join(dest_dir, os.path.relpath(os.path.join(d, f), full))
                    os.makedirs(os.path.dirname(target), exist_ok=True)
                    shutil.copy2(os.path.join(d, f), target)
        elif os.path.isfile(full):
            os.makedirs(dest_dir, exist_ok=True)
            shutil.copy2(full, os.path.join(dest_dir, os.path.basename(full)))
        else:
            raise RuntimeError(f"COPY source {src} is not in the build context")


def main():
    args = sys.argv[1:]
    dockerfile, out = args[0], os.path.abspath(args[1])
    arch = args[args.index("--arch") + 1] if "--arch" in args else "amd64"
    context = os.path.abspath(args[args.index("--context") + 1]) if "--context" in args else os.getcwd()
    patterns = dockerignore(context)
    shutil.rmtree(out, ignore_errors=True)
    os.makedirs(out)
    global_args = {"TARGETARCH": arch, "TARGETPLATFORM": f"linux/{arch}", "BUILDPLATFORM": "linux/amd64"}
    stages, stage, base = {}, None, None
    for word, rest in instructions(dockerfile):
        if word == "FROM":
            tokens = [t for t in rest.split() if not t.startswith("--platform=")]
            base = tokens[0]
            name = tokens[2] if len(tokens) > 2 and tokens[1].upper() == "AS" else str(len(stages))
            stage = Stage(name, os.path.join(out, "stages", name))
            os.makedirs(stage.root)
            stage.env = dict(BASE_ENV.get(base, {}))
            stage.base = base
            stages[name] = stage
            continue
        variables = {**stage.args, **stage.env}
        if word == "ARG":
            key, _, default = rest.partition("=")
            stage.args[key] = global_args.get(key, default)
        elif word == "ENV":
            # ENV K=V K2=V2 (the form these Dockerfiles use)
            for token in shlex.split(rest):
                key, _, value = token.partition("=")
                stage.env[key] = expand(value, {**stage.args, **stage.env})
        elif word == "WORKDIR":
            stage.workdir = stage.resolve(expand(rest, variables))
            os.makedirs(stage.host(stage.workdir), exist_ok=True)
        elif word == "COPY":
            tokens = shlex.split(rest)
            source_stage = None
            if tokens[0].startswith("--from="):
                source_stage = stages[tokens[0][7:]]
                tokens = tokens[1:]
            tokens = [t for t in tokens if not t.startswith("--")]
            *sources, dest = tokens
            dest_dir = stage.host(stage.resolve(expand(dest, variables)))
            if source_stage:
                for s in sources:
                    shutil.copytree(source_stage.host(s), dest_dir, dirs_exist_ok=True)
            else:
                copy_from_context(context, sources, dest_dir, patterns)
        elif word == "RUN":
            command = expand(rest, variables)
            # Absolute image paths in the command point into the stand-in file system: word by word (shlex), each
            # word that is an image path (/src, /app or below) becomes the host path, quoted; a command that still names
            # one inside a word (quoted, glued to an operator) is refused rather than run against this machine's /app.
            words = []
            for w in shlex.split(command):
                if re.fullmatch(r"/(?:src|app)(?:/.*)?", w):
                    w = stage.host(w)
                elif re.search(r"(?:^|[^\w.~$)-])/(?:src|app)\b", w):
                    print(f"dockerfile_run: cannot map the image path in {w!r} of: RUN {rest}")
                    sys.exit(1)
                words.append(w if w in ("&&", "||", ";", "|") else shlex.quote(w))
            command = " ".join(words)
            if stage.base.startswith("mcr.microsoft.com/dotnet/sdk"):
                print(f"dockerfile_run: [{stage.name}] RUN {command}", flush=True)
                r = subprocess.run(["bash", "-c", command], cwd=stage.host(stage.workdir), capture_output=True, text=True)
                if r.returncode != 0:
                    print(r.stdout[-3000:] + r.stderr[-3000:])
                    print(f"dockerfile_run: RUN failed ({r.returncode}): {command}")
                    sys.exit(1)
            else:
                # A RUN in a non-SDK stage (useradd in the CUDA image) needs that image; it is recorded, not run.
                stage.skipped = getattr(stage, "skipped", []) + [command]
        elif word == "USER":
            stage.user = expand(rest, variables)
        elif word == "ENTRYPOINT":
            stage.entrypoint = json.loads(rest)
        elif word == "EXPOSE":
            stage.expose = getattr(stage, "expose", []) + rest.split()
        elif word == "HEALTHCHECK":
            stage.healthcheck = rest
    final = stage
    image = {
        "dockerfile": dockerfile, "arch": arch, "base": final.base, "user": getattr(final, "user", "root"),
        "workdir": final.workdir, "env": final.env, "entrypoint": getattr(final, "entrypoint", []),
        "expose": getattr(final, "expose", []), "not_run": getattr(final, "skipped", []),
        # The final stage's file system: an absolute path P in the image is ROOT + P.
        "root": final.root,
    }
    with open(os.path.join(out, "image.json"), "w") as f:
        json.dump(image, f, indent=2)
    print(f"dockerfile_run: {dockerfile} ({arch}) -> {out}/image.json")


if __name__ == "__main__":
    main()
