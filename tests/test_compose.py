"""docker-compose.yml and the example configuration agree with what the code expects."""

from __future__ import annotations

import json
import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def _compose():
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def test_compose_starts_mysql8_the_datajoint_way():
    db = _compose()["services"]["db"]
    assert db["image"].startswith("mysql:8")
    command = " ".join(db["command"])
    assert "--character-set-server=utf8mb4" in command
    packet = int(re.search(r"--max-allowed-packet=(\d+)", command).group(1))
    assert packet >= 64 * 2**20
    assert "healthcheck" in db and "mysqladmin" in " ".join(db["healthcheck"]["test"])
    # the published port is the one DataJoint connects to (DJ_PORT, default 3306)
    host_port, container_port = db["ports"][0].rsplit(":", 1)
    assert container_port == "3306" and "DJ_PORT" in host_port and "3306" in host_port
    # the root password comes from DJ_PASS, the variable DataJoint reads
    assert "DJ_PASS" in db["environment"]["MYSQL_ROOT_PASSWORD"]


def test_environment_names_are_datajoints_own():
    from datajoint.settings import ENV_VAR_MAPPING

    env_names = set(ENV_VAR_MAPPING.values())
    assert {"DJ_HOST", "DJ_USER", "DJ_PASS", "DJ_PORT", "DJ_BACKEND"} <= env_names
    text = (ROOT / "docker-compose.yml").read_text() + (ROOT / "Makefile").read_text()
    for name in set(re.findall(r"\bDJ_[A-Z_]+", text)):
        assert name in env_names, f"{name} is not a DataJoint setting"


def test_object_store_example_matches_the_code():
    from schemas.config import STORE

    example = json.loads((ROOT / "datajoint.example.json").read_text())
    assert STORE in example["stores"]
    compose = _compose()
    assert "minio" in compose["services"]
    assert example["stores"][STORE]["protocol"] == "s3"


def test_worker_service_runs_the_tectum_worker_command():
    """The compose `worker` service runs `tectum worker` from the Dockerfile's image, after the database."""
    from tectum.cli import build_parser

    worker = _compose()["services"]["worker"]
    assert worker["build"] in (".", {"context": "."})
    assert worker["command"][:1] == ["worker"] and "--poll-s" in worker["command"]
    assert worker["depends_on"]["db"]["condition"] == "service_healthy"
    assert worker["environment"]["DJ_HOST"] == "db"
    assert "replicas" not in worker.get("deploy", {}) and "container_name" not in worker  # --scale works
    # the command parses as the real command line does: the entrypoint is `tectum`
    args = build_parser().parse_args(worker["command"])
    assert args.command == "worker" and args.poll_s == 10
    assert int(worker["stop_grace_period"].rstrip("s")) >= 20  # time to roll back and re-queue


def test_dockerfile_installs_the_project_and_runs_tectum():
    text = (ROOT / "Dockerfile").read_text()
    assert re.search(r"^FROM python:3\.11-slim\b", text, re.M)
    assert re.search(r'^RUN pip install "?\.\[postgres,s3\]"?', text, re.M)
    entrypoint = json.loads(re.search(r"^ENTRYPOINT (\[.*\])$", text, re.M).group(1))
    assert entrypoint == ["tectum"]  # exec form: tectum gets docker's SIGTERM itself
    # `tectum` is the console script the package installs
    import tomllib

    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert scripts["tectum"] == "tectum.cli:main"
    packages = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]["find"]
    for package in packages["include"]:
        assert re.search(rf"^COPY {package.rstrip('*')} ", text, re.M), f"{package} not copied into the image"
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    assert {"postgres", "s3"} <= set(extras)
