"""infra/build_lambda.py's own logic (the real build runs in ``make deploy-check``): platform
tags for Lambda's glibc, the architecture check of shared libraries, pruning, and a
reproducible zip."""

from __future__ import annotations

import hashlib
import importlib.util
import sys
import zipfile
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[2]


def load_build_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("build_lambda", ROOT / "infra/build_lambda.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["build_lambda"] = module
    spec.loader.exec_module(module)
    return module


build = load_build_module()


def elf(machine: int) -> bytes:
    """The first bytes of an ELF file for ``machine`` (e_machine at offset 18)."""
    return b"\x7fELF" + bytes(14) + machine.to_bytes(2, "little") + bytes(12)


def test_platform_tags_cover_manylinux2014_up_to_lambdas_glibc() -> None:
    tags = build.platform_tags("arm64")
    assert tags[0] == "manylinux_2_34_aarch64"
    assert "manylinux_2_17_aarch64" in tags and "manylinux2014_aarch64" in tags
    assert not any("2_35" in tag or "x86_64" in tag for tag in tags)
    assert build.platform_tags("x86_64")[-1] == "manylinux2014_x86_64"


def test_a_wrong_architecture_library_fails_the_build(tmp_path: Path) -> None:
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "good.cpython-312-aarch64-linux-gnu.so").write_bytes(elf(183))
    (tmp_path / "pkg" / "libz.so.1").write_bytes(elf(183))
    build.check_binaries(tmp_path, "arm64")

    (tmp_path / "pkg" / "bad.cpython-312-x86_64-linux-gnu.so").write_bytes(elf(62))
    with pytest.raises(SystemExit, match=r"bad\.cpython-312-x86_64"):
        build.check_binaries(tmp_path, "arm64")


def test_prune_drops_caches_scripts_and_bundled_tests(tmp_path: Path) -> None:
    for name in ("bin/todobot", "pkg/__pycache__/m.cpython-311.pyc", "pkg/tests/test_x.py",
                 "pkg/m.py", "pkg/stale.pyc", "pkg/testing/fixtures.py"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("x")

    build.prune(tmp_path)

    left = sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*") if p.is_file())
    assert left == ["pkg/m.py", "pkg/testing/fixtures.py"]


def test_the_zip_is_reproducible(tmp_path: Path) -> None:
    stage = tmp_path / "stage"
    (stage / "handlers").mkdir(parents=True)
    (stage / "handlers" / "telegram.py").write_text("def handler(e, c): ...\n")
    (stage / "six.py").write_text("# six\n")
    first, second = tmp_path / "a.zip", tmp_path / "b.zip"

    assert build.write_zip(stage, first) == 2
    (stage / "six.py").touch()  # a new mtime must not change the artifact
    build.write_zip(stage, second)

    def digest(path: Path) -> str:
        return hashlib.sha256(path.read_bytes()).hexdigest()

    assert digest(first) == digest(second)
    with zipfile.ZipFile(first) as archive:
        assert archive.namelist() == ["handlers/telegram.py", "six.py"]
