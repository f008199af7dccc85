"""Container images for the real node, built without Docker or a registry, cached by content hash.

* ``envctl``: what the Dockerfile builds (Debian bookworm, python3, a venv in /opt/envctl with the
  project's wheel and its dependencies, user 10001, ports 9000/9100, entrypoint ``envctl``). The
  test tests/integration/kubernetes/test_node_images.py holds the Dockerfile and this recipe to
  the same entrypoint, command, user, ports and environment.
* ``postgres``: Debian's PostgreSQL 15 with an entrypoint that, like the official image, creates
  the cluster from POSTGRES_USER / POSTGRES_PASSWORD / POSTGRES_DB on first start.
* ``pause``: the pod sandbox, a static C program that sleeps until told to stop.

Root filesystems come from debootstrap (Debian's mirror, the one apt uses), the Python packages
from the package index as wheels built on this machine, and umoci turns a root filesystem into an
OCI image layout, archived and imported with ``ctr images import``. Each archive is named after
the hash of everything that goes into it, so a rebuild happens only when an input changes, and a
second, smaller layer carries the project itself, so a code change rebuilds seconds, not minutes.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import time
import tomllib
from pathlib import Path

from cluster.common import Error, log

RECIPE_VERSION = "1"  # bump to rebuild every image
CACHE = Path(os.environ.get("ENVCTL_IMAGE_CACHE") or Path.home() / ".cache" / "envctl" / "images" / f"v{RECIPE_VERSION}")
REPO = Path(__file__).resolve().parents[2]
SUITE = "bookworm"

# A registry-style name with a dot: containerd would otherwise read "local/x" as docker.io/local/x.
PAUSE_IMAGE = "envctl.local/pause:1"
POSTGRES_IMAGE_REPO = "envctl.local/postgres"
ENVCTL_IMAGE_REPO = "envctl.local/envctl"

# The Dockerfile's image, as an OCI config (kept equal to the Dockerfile by a test).
ENVCTL_CONFIG = {
    "user": "10001",
    "entrypoint": ["envctl"],
    "cmd": ["server", "--host", "0.0.0.0", "--port", "9000", "--admin-port", "9100"],
    "env": ["PATH=/opt/envctl/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            "PYTHONUNBUFFERED=1"],
    "ports": ["9000/tcp", "9100/tcp"],
    "workdir": "/home/envctl",
}
ENVCTL_PACKAGES = ["python3", "python3-venv", "ca-certificates"]
POSTGRES_PACKAGES = ["postgresql-15", "postgresql-client-15"]

PAUSE_C = r"""
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>
static void stop(int sig) { (void)sig; _exit(0); }
static void reap(int sig) { (void)sig; while (waitpid(-1, 0, WNOHANG) > 0) {} }
int main(void) {
    signal(SIGTERM, stop); signal(SIGINT, stop); signal(SIGCHLD, reap);
    for (;;) pause();
}
"""

POSTGRES_ENTRYPOINT = r"""#!/bin/sh
# Like the official image: create the cluster from POSTGRES_* on first start, then run as postgres.
set -eu
: "${PGDATA:=/var/lib/postgresql/data}" "${POSTGRES_USER:=postgres}" "${POSTGRES_DB:=$POSTGRES_USER}"
export PGDATA
if [ "$(id -u)" = 0 ]; then
  mkdir -p "$PGDATA" /run/postgresql
  chown -R postgres:postgres "$PGDATA" /run/postgresql
  chmod 700 "$PGDATA"
  exec setpriv --reuid=postgres --regid=postgres --init-groups "$0" "$@"
fi
if [ ! -s "$PGDATA/PG_VERSION" ]; then
  pwfile=$(mktemp)
  printf '%s\n' "${POSTGRES_PASSWORD:?POSTGRES_PASSWORD must be set}" > "$pwfile"
  # --no-sync: a crash during initdb leaves nothing worth keeping; the running server fsyncs as usual.
  initdb --username="$POSTGRES_USER" --pwfile="$pwfile" --auth-local=trust --auth-host=scram-sha-256 --no-sync >/dev/null
  rm -f "$pwfile"
  echo "host all all all scram-sha-256" >> "$PGDATA/pg_hba.conf"
  if [ "$POSTGRES_DB" != postgres ]; then
    echo "CREATE DATABASE \"$POSTGRES_DB\" OWNER \"$POSTGRES_USER\"" | postgres --single -D "$PGDATA" postgres >/dev/null
  fi
fi
exec postgres -D "$PGDATA" -c listen_addresses='*' "$@"
"""
POSTGRES_CONFIG = {
    "user": "0",  # the entrypoint drops to postgres once the data directory is its own
    "entrypoint": ["/usr/local/bin/postgres-entrypoint"],
    "cmd": [],
    "env": ["PATH=/usr/lib/postgresql/15/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            "PGDATA=/var/lib/postgresql/data"],
    "ports": ["5432/tcp"],
    "workdir": "/",
}


def _run(cmd: list[str], logf=None, cwd: Path | None = None, env: dict | None = None) -> None:
    p = subprocess.run(cmd, cwd=cwd, env=env, stdout=logf or subprocess.PIPE, stderr=subprocess.STDOUT,
                       text=True)
    if p.returncode != 0:
        tail = "" if logf else (p.stdout or "")[-3000:]
        raise Error(f"{' '.join(cmd[:6])} ... failed (exit {p.returncode}){': ' + tail if tail else ''}")


def _digest(*parts: object) -> str:
    h = hashlib.sha256()
    for p in parts:
        h.update(json.dumps(p, sort_keys=True, default=str).encode())
    return h.hexdigest()[:16]


def _tree_digest(paths: list[Path]) -> str:
    h = hashlib.sha256()
    for top in paths:
        files = [top] if top.is_file() else sorted(p for p in top.rglob("*") if p.is_file() and "__pycache__" not in p.parts)
        for f in files:
            h.update(str(f.relative_to(REPO)).encode() + b"\0" + f.read_bytes())
    return h.hexdigest()[:16]


def _mirror() -> str:
    """The Debian mirror apt on this machine uses (debootstrap fetches from it too)."""
    texts = []
    for f in [Path("/etc/apt/sources.list"), *sorted(Path("/etc/apt/sources.list.d").glob("*"))]:
        if f.is_file():
            texts.append(f.read_text())
    for text in texts:
        m = re.search(r"^URIs:\s*(\S+/debian)\s*$", text, re.M) or re.search(r"^deb\s+(?:\[[^]]*\]\s+)?(\S+/debian)\s", text, re.M)
        if m:
            return m.group(1)
    return "http://deb.debian.org/debian"


def _chroot(root: Path, script: str, logf) -> None:
    """Run a shell script inside `root` with /proc and /dev, in a private mount namespace (nothing leaks)."""
    shutil.copy("/etc/resolv.conf", root / "etc" / "resolv.conf")
    inner = f"mount -t proc proc {root}/proc && mount --rbind /dev {root}/dev && exec chroot {root} /bin/sh -ec '{script}'"
    try:
        _run(["unshare", "--mount", "--propagation", "private", "sh", "-ec", inner], logf)
    finally:
        (root / "etc" / "resolv.conf").write_text("")


def _debootstrap(dest: Path, packages: list[str], logf) -> None:
    tmp = dest.with_name(dest.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    _run(["debootstrap", "--variant=minbase", f"--include={','.join(packages)}", SUITE, str(tmp), _mirror()], logf)
    for junk in ("var/cache/apt/archives", "var/lib/apt/lists", "usr/share/doc", "usr/share/man", "usr/share/info"):
        for p in (tmp / junk).glob("*"):
            if p.is_dir():
                shutil.rmtree(p, ignore_errors=True)
            else:
                p.unlink(missing_ok=True)
    tmp.rename(dest)


def _umoci_layout(name: str, tag: str, rootfs: Path, config: dict, logf) -> Path:
    """A one-layer OCI image layout of `rootfs` with `config`."""
    layout = CACHE / f"{name}-{tag}.layout"
    bundle = CACHE / f"{name}-{tag}.bundle"
    shutil.rmtree(layout, ignore_errors=True)
    shutil.rmtree(bundle, ignore_errors=True)
    _run(["umoci", "init", "--layout", str(layout)], logf)
    _run(["umoci", "new", "--image", f"{layout}:{tag}"], logf)
    _run(["umoci", "unpack", "--image", f"{layout}:{tag}", str(bundle)], logf)
    _run(["cp", "-a", f"{rootfs}/.", str(bundle / "rootfs")], logf)
    _run(["umoci", "repack", "--image", f"{layout}:{tag}", str(bundle)], logf)
    args = ["umoci", "config", "--image", f"{layout}:{tag}", f"--config.user={config['user']}",
            f"--config.workingdir={config['workdir']}", "--clear=config.entrypoint", "--clear=config.cmd",
            "--clear=config.env", "--clear=config.exposedports"]
    args += [f"--config.entrypoint={e}" for e in config["entrypoint"]]
    args += [f"--config.cmd={c}" for c in config["cmd"]]
    args += [f"--config.env={e}" for e in config["env"]]
    args += [f"--config.exposedports={p}" for p in config["ports"]]
    _run(args, logf)
    _run(["umoci", "gc", "--layout", str(layout)], logf)
    shutil.rmtree(bundle, ignore_errors=True)
    return layout


def _archive(layout: Path, out: Path) -> Path:
    tmp = out.with_name(out.name + ".tmp")
    with tarfile.open(tmp, "w") as tar:
        for p in sorted(layout.rglob("*")):
            tar.add(p, arcname=str(p.relative_to(layout)), recursive=False)
    tmp.rename(out)
    shutil.rmtree(layout, ignore_errors=True)
    return out


# --------------------------------------------------------------------------
# the three images
# --------------------------------------------------------------------------

def _pause(logf) -> tuple[str, Path]:
    tag = _digest(RECIPE_VERSION, PAUSE_C)
    out = CACHE / f"pause-{tag}.oci.tar"
    if out.exists():
        return PAUSE_IMAGE, out
    root = CACHE / f"pause-{tag}.rootfs"
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True)
    src = CACHE / "pause.c"
    src.write_text(PAUSE_C)
    _run(["gcc", "-static", "-Os", "-s", "-o", str(root / "pause"), str(src)], logf)
    cfg = {"user": "65535", "entrypoint": ["/pause"], "cmd": [], "env": [], "ports": [], "workdir": "/"}
    _archive(_umoci_layout("pause", "1", root, cfg, logf), out)
    shutil.rmtree(root, ignore_errors=True)
    return PAUSE_IMAGE, out


def _python_requirements() -> list[str]:
    return list(tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"])


def _constraints() -> str:
    """The exact versions CI tests (scripts/lock): the image installs those, like the Dockerfile."""
    return (REPO / "constraints.txt").read_text()


def _envctl_base(logf) -> tuple[Path, str]:
    """Debian + python3 + a venv holding every third-party dependency (the slow part, rarely rebuilt)."""
    reqs = _python_requirements()
    tag = _digest(RECIPE_VERSION, SUITE, ENVCTL_PACKAGES, reqs, _constraints(), ENVCTL_CONFIG)
    layout = CACHE / f"envctl-base-{tag}.layout"
    if (layout / "index.json").exists():
        return layout, tag
    t0 = time.monotonic()
    log(f"building the envctl base image (Debian {SUITE}, python3, {len(reqs)} dependencies); log in {CACHE}")
    root = CACHE / f"envctl-base-{tag}.rootfs"
    if not root.exists():
        _debootstrap(root, ENVCTL_PACKAGES, logf)
    wheels = root / "tmp" / "wheels"
    wheels.mkdir(parents=True, exist_ok=True)
    # Wheels are built here, where pip's configuration and cache are; the chroot installs offline.
    (root / "tmp" / "requirements.txt").write_text("\n".join(reqs) + "\n")
    (root / "tmp" / "constraints.txt").write_text(_constraints())
    _run([sys.executable, "-m", "pip", "wheel", "--quiet", "-w", str(wheels), "-c", str(root / "tmp" / "constraints.txt"),
          *reqs], logf)  # fmt: skip
    _chroot(root, "python3 -m venv /opt/envctl"
                  " && /opt/envctl/bin/pip install --quiet --no-index --find-links /tmp/wheels"
                  " -c /tmp/constraints.txt -r /tmp/requirements.txt"
                  " && rm /tmp/requirements.txt /tmp/constraints.txt"
                  " && useradd --uid 10001 --create-home envctl"
                  " && mkdir -p /data /status && chown envctl /data /status", logf)
    shutil.rmtree(wheels)
    _umoci_layout("envctl-base", tag, root, ENVCTL_CONFIG, logf)
    shutil.rmtree(root, ignore_errors=True)
    log(f"envctl base image built in {time.monotonic() - t0:.0f}s")
    return layout, tag


def envctl_tag() -> str:
    return _digest(RECIPE_VERSION, _tree_digest([REPO / "envctl", REPO / "templates", REPO / "pyproject.toml"]),
                   _python_requirements(), _constraints(), ENVCTL_CONFIG)


def _envctl(logf) -> tuple[str, Path]:
    tag = envctl_tag()
    out = CACHE / f"envctl-{tag}.oci.tar"
    ref = f"{ENVCTL_IMAGE_REPO}:{tag}"
    if out.exists():
        return ref, out
    base_layout, base_tag = _envctl_base(logf)
    staging = CACHE / f"envctl-{tag}.wheel"
    shutil.rmtree(staging, ignore_errors=True)
    _run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "-w", str(staging), str(REPO)], logf)
    wheel = next(staging.glob("envctl-*.whl"))
    # The app layer: unpack the base, install the wheel into its venv, repack the difference.
    bundle = CACHE / f"envctl-{tag}.app-bundle"
    shutil.rmtree(bundle, ignore_errors=True)
    _run(["umoci", "unpack", "--image", f"{base_layout}:{base_tag}", str(bundle)], logf)
    shutil.copy(wheel, bundle / "rootfs" / "tmp" / wheel.name)
    _chroot(bundle / "rootfs", f"/opt/envctl/bin/pip install --quiet --no-deps --no-index /tmp/{wheel.name}"
                               f" && rm /tmp/{wheel.name}", logf)
    layout = CACHE / f"envctl-{tag}.layout"
    shutil.rmtree(layout, ignore_errors=True)
    shutil.copytree(base_layout, layout)
    _run(["umoci", "tag", "--image", f"{layout}:{base_tag}", tag], logf)
    _run(["umoci", "repack", "--image", f"{layout}:{tag}", str(bundle)], logf)
    _run(["umoci", "rm", "--image", f"{layout}:{base_tag}"], logf)
    _run(["umoci", "gc", "--layout", str(layout)], logf)
    _archive(layout, out)
    for p in (bundle, staging):
        shutil.rmtree(p, ignore_errors=True)
    return ref, out


def _postgres(logf) -> tuple[str, Path]:
    tag = _digest(RECIPE_VERSION, SUITE, POSTGRES_PACKAGES, POSTGRES_ENTRYPOINT, POSTGRES_CONFIG)
    out = CACHE / f"postgres-{tag}.oci.tar"
    ref = f"{POSTGRES_IMAGE_REPO}:{tag}"
    if out.exists():
        return ref, out
    log("building the postgres image (Debian's PostgreSQL 15)")
    root = CACHE / f"postgres-{tag}.rootfs"
    if not root.exists():
        _debootstrap(root, POSTGRES_PACKAGES, logf)
    entry = root / "usr" / "local" / "bin" / "postgres-entrypoint"
    entry.write_text(POSTGRES_ENTRYPOINT)
    entry.chmod(0o755)
    _archive(_umoci_layout("postgres", tag, root, POSTGRES_CONFIG, logf), out)
    shutil.rmtree(root, ignore_errors=True)
    return ref, out


def build_all(log_dir: Path) -> dict[str, tuple[str, Path]]:
    """name -> (image reference, OCI archive); builds only what the cache lacks."""
    CACHE.mkdir(parents=True, exist_ok=True)
    log_dir.mkdir(parents=True, exist_ok=True)
    import fcntl

    with open(CACHE / ".lock", "w") as lock, open(log_dir / "images.log", "a") as logf:
        fcntl.flock(lock, fcntl.LOCK_EX)
        return {"pause": _pause(logf), "postgres": _postgres(logf), "envctl": _envctl(logf)}


def ensure_imported(ctr: list[str], log_dir: Path) -> dict[str, str]:
    """Build what is missing and import into containerd what it does not have; name -> reference."""
    built = build_all(log_dir)
    have = set(subprocess.run([*ctr, "images", "ls", "-q"], capture_output=True, text=True).stdout.split())
    wanted = {ref for ref, _archive in built.values()}
    stale = sorted(have - wanted)
    if stale:  # earlier builds, and names tests added: the store holds exactly this run's images
        subprocess.run([*ctr, "images", "rm", *stale], capture_output=True)
    for _name, (ref, archive) in built.items():
        if ref in have:
            continue
        t0 = time.monotonic()
        repo, tag = ref.rsplit(":", 1)
        _run([*ctr, "images", "import", "--base-name", repo, str(archive)])
        if ref not in subprocess.run([*ctr, "images", "ls", "-q"], capture_output=True, text=True).stdout.split():
            raise Error(f"importing {archive} did not give image {ref}")
        log(f"imported {ref} in {time.monotonic() - t0:.1f}s")
    return {name: ref for name, (ref, _a) in built.items()}
