"""The ``tectum`` store on a real S3 API (and on a shared folder), as docs/object-store.md sets it up.

An S3 server (moto's, from ``moto[server]`` in the test extra) runs in this
process on 127.0.0.1. Each test writes the ``datajoint.json`` of
docs/object-store.md (endpoint and credentials filled in; the secret key in
``.secrets/``) into a working folder and runs the ``tectum`` command there as
a user would, in subprocesses, under a private schema prefix that is dropped
afterwards: ingest -> populate -> export -> delete -> ``tectum gc``, with the
bucket listed by boto3 after each step. The database is the one of the test
session (DJ_BACKEND=mysql or postgresql; the DJ_* defaults of conftest.py).
"""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys
import urllib.request
import uuid
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip(
    "moto.server", reason="the S3 tests need moto's server: pip install 'moto[server]' (it is in the test extra)"
)
pytest.importorskip("s3fs", reason="DataJoint's S3 stores need s3fs: pip install s3fs (it is in the test extra)")
boto3 = pytest.importorskip("boto3", reason="the S3 tests list the bucket with boto3 (in the test extra)")

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "object-store.md"
BUCKET = "tectum"


# ---------------------------------------------------------------------------
# the document's examples


def doc_json_blocks() -> list[tuple[str, dict]]:
    """(the line before the block, parsed JSON) of every ```json block of docs/object-store.md."""
    text = DOC.read_text(encoding="utf-8")
    blocks = []
    for match in re.finditer(r"```json\n(.*?)```", text, flags=re.S):
        before = text[: match.start()].rstrip().splitlines()[-1]
        blocks.append((before, json.loads(match.group(1))))
    return blocks


def doc_store(protocol: str) -> dict:
    (spec,) = [
        b["stores"]["tectum"]
        for _, b in doc_json_blocks()
        if "stores" in b and b["stores"]["tectum"]["protocol"] == protocol
    ]
    return dict(spec)


def doc_policy(name: str) -> dict:
    (policy,) = [b for before, b in doc_json_blocks() if before == f"`{name}.json`:"]
    return policy


# ---------------------------------------------------------------------------
# an S3 server and a project folder


@pytest.fixture(scope="module")
def s3_endpoint():
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"{host}:{port}"
    client(endpoint, "setup", "setup").create_bucket(Bucket=BUCKET)
    yield endpoint
    server.stop()


def client(endpoint, key, secret):
    return boto3.client(
        "s3",
        endpoint_url=f"http://{endpoint}",
        aws_access_key_id=key,
        aws_secret_access_key=secret,
        region_name="us-east-1",
    )


class Project:
    """A working folder with a datajoint.json, where ``tectum`` runs under a private schema prefix."""

    def __init__(self, folder: Path, prefix: str, store: dict, secret: str | None = None):
        self.folder, self.prefix, self.store = folder, prefix, store
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "datajoint.json").write_text(json.dumps({"stores": {"tectum": store}}, indent=2))
        if secret is not None:  # as the document says: beside datajoint.json, not in it
            (folder / ".secrets").mkdir(exist_ok=True)
            (folder / ".secrets" / "stores.tectum.secret_key").write_text(secret + "\n")
        self.env = dict(os.environ, TECTUM_SCHEMA_PREFIX=prefix, PYTHONPATH=str(ROOT), DJ_LOG_LEVEL="WARNING")
        for name in ("TECTUM_STORE_DIR", "DJ_STORES"):  # the project's datajoint.json decides
            self.env.pop(name, None)

    def run(self, *argv, expect: int = 0) -> str:
        proc = subprocess.run(
            [sys.executable, "-m", "tectum.cli", "-q", *argv],
            cwd=self.folder,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert proc.returncode == expect, f"tectum {' '.join(argv)}: {proc.stdout}\n{proc.stderr}"
        return proc.stdout + proc.stderr

    def python(self, code: str) -> str:
        # schemas.activate() is the explicit declaration step the schemas package is getting
        preamble = "import schemas\nif hasattr(schemas, 'activate'):\n    schemas.activate()\n"
        proc = subprocess.run(
            [sys.executable, "-c", preamble + code],
            cwd=self.folder,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert proc.returncode == 0, proc.stderr
        return proc.stdout

    def drop(self) -> None:
        self.python(
            "for m in (schemas.analysis, schemas.acquisition, schemas.reference):\n    m.schema.drop(prompt=False)\n"
        )


def new_prefix() -> str:
    return f"test_os_{uuid.uuid4().hex[:8]}_"


def demo_manifest(folder: Path, seed: int = 2) -> Path:
    from tectum.demo_data import write_demo_dataset

    return write_demo_dataset(folder, n_recordings=1, n_rois=40, n_frames=300, seed=seed, formats=("npy",))


# ---------------------------------------------------------------------------


#: the S3 API is the same whichever SQL server holds the rows: `make test` runs these in the MySQL pass
S3_ONCE = "S3 tests run in the MySQL/MariaDB pass (the store does not depend on the SQL backend)"


@pytest.fixture(params=["file", "s3"])
def project(request, tmp_path):
    """The document's file-system or S3 store, with a listing of this project's files in it."""
    if request.param == "s3" and os.environ.get("DJ_BACKEND") == "postgresql":
        pytest.skip(S3_ONCE)
    prefix = new_prefix()
    store = doc_store(request.param)
    if request.param == "file":
        store["location"] = str(tmp_path / "share" / "tectum")
        root = Path(store["location"]) / "_schema"

        def listing():
            return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.glob(f"{prefix}*/**/*") if p.is_file()}

        proj = Project(tmp_path / "work", prefix, store)
    else:
        endpoint = request.getfixturevalue("s3_endpoint")
        store.update(endpoint=endpoint, access_key="alice")
        s3 = client(endpoint, "alice", "alice-secret")
        root = f"{store['location']}/_schema/"

        def listing():
            objects = s3.list_objects_v2(Bucket=BUCKET, Prefix=root + prefix).get("Contents", [])
            return {o["Key"][len(root) :]: s3.get_object(Bucket=BUCKET, Key=o["Key"])["Body"].read() for o in objects}

        proj = Project(tmp_path / "work", prefix, store, secret="alice-secret")
    proj.listing = listing
    yield proj
    proj.drop()


def load_npy(data: bytes) -> np.ndarray:
    return np.load(io.BytesIO(data), allow_pickle=False)


@pytest.mark.db
def test_ingest_populate_export_delete_gc(project, tmp_path):
    from pynwb import NWBHDF5IO

    from tectum.manifest import read_manifest

    manifest = demo_manifest(tmp_path / "data")
    (rec,) = read_manifest(manifest)
    prefix = project.prefix

    assert "1 inserted" in project.run("ingest", str(manifest))
    files = project.listing()
    (traces_path,) = files
    assert re.fullmatch(
        rf"{prefix}acquisition/roi_traces/fish={rec.fish}/recording={rec.recording}/traces_[\w-]+\.npy", traces_path
    ), traces_path
    np.testing.assert_array_equal(load_npy(files[traces_path]), rec.traces)

    assert "1 made" in project.run("populate", "--paramset", "default")
    files = project.listing()
    computed = [p for p in files if p != traces_path]
    # the dF/F, and the regressors' design, stimulus trains and convolved regressors
    assert len(computed) == 4, computed
    (dff_path,) = [p for p in computed if "/__delta_f/" in p]
    assert dff_path.startswith(
        f"{prefix}analysis/__delta_f/fish={rec.fish}/recording={rec.recording}/paramset=default/dff_"
    )
    dff = load_npy(files[dff_path])
    assert dff.shape == rec.traces.shape

    # the NWB export reads the dF/F back from the store
    assert "export: 1 NWB file(s)" in project.run("export", "--format", "nwb", "--out", str(tmp_path / "nwb"))
    (nwb_path,) = (tmp_path / "nwb").rglob("*.nwb")
    with NWBHDF5IO(str(nwb_path), mode="r") as nwb_io:
        np.testing.assert_array_equal(nwb_io.read().processing["ophys"]["DfOverF"]["dff"].data[:].T, dff)

    # deleting rows leaves the files until the garbage collector removes them
    project.python("schemas.acquisition.Fish.delete(prompt=False)\nassert len(schemas.acquisition.Recording()) == 0\n")
    assert set(project.listing()) == set(files)
    out = project.run("gc")
    assert "store: 5 file(s), 5 not referenced by any row" in out and "tectum db gc removes them" in out
    out = project.run("status", "--store")  # a bucket is listed by status only when asked
    assert re.search(r"^store: 5 file\(s\) \(.*\), 5 not referenced by any row", out, re.M), out
    assert set(project.listing()) == set(files)
    assert "store: deleted 5 file(s)" in project.run("db", "gc")
    assert project.listing() == {}


def test_doc_store_examples_are_valid_datajoint_settings():
    import datajoint as dj

    for protocol in ("file", "s3"):
        spec = doc_store(protocol)
        with dj.config.override(stores={"tectum": spec}):
            checked = dj.config.get_store_spec("tectum")
        assert checked["protocol"] == protocol and checked["location"] == spec["location"]


# ---------------------------------------------------------------------------
# the bucket policies, on a server that enforces them


def set_auth(endpoint: str, initial_no_auth_actions: str) -> None:
    """moto: authorise every request from now on ("0"), or none again ("inf")."""
    request = urllib.request.Request(
        f"http://{endpoint}/moto-api/reset-auth",
        data=initial_no_auth_actions.encode(),
        method="POST",
        headers={"Content-Type": "text/plain"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        assert response.status == 200


@pytest.mark.db
@pytest.mark.skipif(os.environ.get("DJ_BACKEND") == "postgresql", reason=S3_ONCE)
def test_bucket_policies_of_the_three_roles(s3_endpoint, tmp_path):
    iam = boto3.client(
        "iam",
        endpoint_url=f"http://{s3_endpoint}",
        aws_access_key_id="setup",
        aws_secret_access_key="setup",
        region_name="us-east-1",
    )
    prefix = new_prefix()
    projects, keys = {}, {}
    for role in ("viewer", "analyst", "admin"):
        user = f"{role}-{prefix}"
        iam.create_user(UserName=user)
        policy = doc_policy(role)
        if role == "admin":
            # moto checks a bulk delete (DeleteObjects) against the bucket's ARN before each key's;
            # AWS and MinIO check only the keys, which the document's policy covers
            policy = dict(
                policy,
                Statement=[
                    *policy["Statement"],
                    {"Effect": "Allow", "Action": ["s3:DeleteObject"], "Resource": [f"arn:aws:s3:::{BUCKET}"]},
                ],
            )
        arn = iam.create_policy(PolicyName=f"tectum-{role}-{prefix}", PolicyDocument=json.dumps(policy))["Policy"][
            "Arn"
        ]
        iam.attach_user_policy(UserName=user, PolicyArn=arn)
        key = iam.create_access_key(UserName=user)["AccessKey"]
        keys[role] = (key["AccessKeyId"], key["SecretAccessKey"])
        store = dict(doc_store("s3"), endpoint=s3_endpoint, access_key=key["AccessKeyId"])
        projects[role] = Project(tmp_path / role, prefix, store, secret=key["SecretAccessKey"])
    admin_s3 = client(s3_endpoint, *keys["admin"])
    root = f"{doc_store('s3')['location']}/_schema/{prefix}"

    def listing():
        return [o["Key"] for o in admin_s3.list_objects_v2(Bucket=BUCKET, Prefix=root).get("Contents", [])]

    manifest = demo_manifest(tmp_path / "data", seed=3)
    set_auth(s3_endpoint, "0")
    try:
        analyst, viewer, admin = projects["analyst"], projects["viewer"], projects["admin"]
        assert "1 inserted" in analyst.run("ingest", str(manifest))
        assert "1 made" in analyst.run("populate", "--paramset", "default")
        assert len(listing()) == 5

        # a viewer reads (export) but cannot add files: the ingest fails and nothing is written
        assert "export: 1 NWB file(s)" in viewer.run("export", "--format", "nwb", "--out", str(tmp_path / "nwb"))
        out = viewer.run("ingest", "--replace", str(manifest), expect=1)
        assert "AccessDenied" in out or "Forbidden" in out or "PermissionError" in out, out
        # (DataJoint may print connection notices first: the count is the last line)
        assert viewer.python("print(len(schemas.acquisition.Recording()))").splitlines()[-1] == "1"
        assert len(listing()) == 5

        # an analyst deletes rows but cannot delete files
        analyst.python("schemas.acquisition.Fish.delete(prompt=False)\n")
        assert "5 not referenced by any row" in analyst.run("db", "gc", "--dry-run")
        out = analyst.run("gc", "--delete", expect=1)
        assert "store: deleted 0 file(s), 5 error(s)" in out and "5 file(s) are still there" in out
        assert len(listing()) == 5

        # an admin can
        assert "store: deleted 5 file(s)" in admin.run("gc", "--delete")
        assert listing() == []
    finally:
        set_auth(s3_endpoint, "inf")
        projects["admin"].drop()
