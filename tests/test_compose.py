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
