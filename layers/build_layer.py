"""Build the shared Lambda layer without Docker, cached by a hash of its inputs.

    python layers/build_layer.py            # real layer: pip wheels for arm64 / CPython 3.12 + clickguard
    python layers/build_layer.py --stub     # clickguard only, no pip (offline template tests)

The layer is ``build/layer/<hash>/python/...``; the hash covers the requirements, the pip target platform and the
runtime sources of the shared package, so a second build (and every synth after the first) does no pip work.
Prints the layer directory. ``infra`` calls ``build_layer()`` directly.
"""

from __future__ import annotations

import argparse
import fcntl
import hashlib
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
REQUIREMENTS = ROOT / "layers" / "requirements.txt"
PACKAGE = ROOT / "layers" / "shared" / "clickguard"
BUILD_ROOT = ROOT / "build" / "layer"

PYTHON_VERSION = "3.12"
# numpy 2.4 publishes aarch64 wheels only as manylinux_2_28; older pure deps as manylinux2014. Both run on the
# Amazon Linux 2023 based python3.12 runtime (glibc 2.34).
PLATFORMS = ("manylinux2014_aarch64", "manylinux_2_28_aarch64")
# Dev and local-only tools: not imported by a handler, so they stay out of the deployed layer.
EXCLUDED_SUBPACKAGES = ("cli", "local", "sim", "report")
# The runtime ships a matched boto3/botocore/s3transfer; a copy pulled in by aws-xray-sdk would shadow it.
PRUNED = ("boto3", "botocore", "s3transfer", "bin")
# zstandard ships two equal backends, the C extension it imports first and a CFFI one (11 MB) it falls back to.
PRUNED_FILES = ("zstandard/_cffi.*.so", "zstandard/backend_cffi.py")
BUILDER_VERSION = "2"  # bump when this script changes what it produces


def _runtime_sources() -> list[Path]:
    files = []
    for path in sorted(PACKAGE.rglob("*")):
        rel = path.relative_to(PACKAGE)
        if path.is_dir() or "__pycache__" in rel.parts or path.suffix in {".pyc", ".pyo"}:
            continue
        if rel.parts[0] in EXCLUDED_SUBPACKAGES:
            continue
        files.append(path)
    return files


def input_hash(stub: bool) -> str:
    digest = hashlib.sha256()
    digest.update(f"{BUILDER_VERSION}|{PYTHON_VERSION}|{','.join(PLATFORMS)}|stub={stub}".encode())
    if not stub:
        digest.update(REQUIREMENTS.read_bytes())
    for path in _runtime_sources():
        digest.update(str(path.relative_to(PACKAGE)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def _pip_install(target: Path) -> None:
    cmd = [
        sys.executable,
        "-m",
        "pip",
        "install",
        "--quiet",
        "--disable-pip-version-check",
        "--no-compile",
        "--only-binary=:all:",
        "--implementation",
        "cp",
        "--python-version",
        PYTHON_VERSION,
        "--target",
        str(target),
        "-r",
        str(REQUIREMENTS),
    ]
    for platform in PLATFORMS:
        cmd[4:4] = ["--platform", platform]
    result = subprocess.run(cmd, capture_output=True, text=True, check=False)  # noqa: S603 (fixed argv)
    if result.returncode != 0:
        raise RuntimeError(
            "pip could not build the Lambda layer (network or index unavailable?). Set CLICKGUARD_STUB_LAYER=1 or "
            f"context stub_layer=true for template-only work.\n{result.stderr[-2000:]}"
        )
    for name in PRUNED:
        for path in list(target.glob(name)) + list(target.glob(f"{name}-*.dist-info")):
            shutil.rmtree(path) if path.is_dir() else path.unlink()
    for pattern in PRUNED_FILES:
        for path in target.glob(pattern):
            path.unlink()
    for cache in list(target.rglob("__pycache__")):
        shutil.rmtree(cache, ignore_errors=True)


def _copy_package(target: Path) -> None:
    for path in _runtime_sources():
        dest = target / "clickguard" / path.relative_to(PACKAGE)
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, dest)


def build_layer(stub: bool = False, force: bool = False) -> Path:
    """Return the layer directory (containing ``python/``), building it only if its inputs changed. One process
    builds at a time (a lock file): two test workers that both found no layer built it side by side, and the second
    replaced the directory the first was already copying into a CDK asset (ENOENT in CI)."""
    out = BUILD_ROOT / (("stub-" if stub else "") + input_hash(stub))
    if out.is_dir() and not force:
        return out
    BUILD_ROOT.mkdir(parents=True, exist_ok=True)
    with (BUILD_ROOT / ".lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
        if out.is_dir() and not force:  # built while this process waited
            return out
        return _build(out, stub)


def _build(out: Path, stub: bool) -> Path:
    # Build beside the final directory and rename: a half-built layer (pip interrupted) is never reused.
    staging = Path(tempfile.mkdtemp(prefix=".building-", dir=BUILD_ROOT))
    try:
        python_dir = staging / "python"
        python_dir.mkdir()
        if not stub:
            _pip_install(python_dir)
        _copy_package(python_dir)
        if out.exists():
            shutil.rmtree(out)
        staging.rename(out)
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
    _prune(out, stub)
    return out


def _prune(keep: Path, stub: bool) -> None:
    """Every source change builds a layer of its own (tens of MB); the older builds of the same kind go, so a
    working checkout does not grow by one per edit."""
    for old in BUILD_ROOT.iterdir():
        if old != keep and not old.name.startswith(".") and old.name.startswith("stub-") == stub:
            shutil.rmtree(old, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stub", action="store_true", help="shared package only, no pip dependencies")
    parser.add_argument("--force", action="store_true", help="rebuild even if cached")
    args = parser.parse_args(argv)
    print(build_layer(stub=args.stub, force=args.force))
    return 0


if __name__ == "__main__":
    sys.exit(main())
