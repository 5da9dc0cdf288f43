"""A connection cut in the middle of a part, against the service running as its own process
(uvicorn over real TCP): the half-sent part is not kept, the client asks what the server has
and resumes; the finished file is exactly the bytes sent."""

from __future__ import annotations

import asyncio
import hashlib
import os
import sys
from datetime import datetime, timezone
from pathlib import Path

import httpx
from kinerja_shared.testing.wait import eventually as wait_for

sys.path.insert(0, str(Path(__file__).parent))
import evidence_samples as samples  # noqa: E402

MiB = 1024 * 1024


async def send_half_and_drop(port: int, path: str, headers: dict, body: bytes, sent: int) -> None:
    """Announce the whole part, send only ``sent`` bytes of it, then drop the TCP connection."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    lines = [f"PUT {path} HTTP/1.1", "Host: 127.0.0.1", f"Content-Length: {len(body)}",
             "Content-Type: application/octet-stream"] + [f"{k}: {v}" for k, v in headers.items()]
    writer.write(("\r\n".join(lines) + "\r\n\r\n").encode() + body[:sent])
    await writer.drain()
    await asyncio.sleep(0.2)  # the server is now reading the part
    writer.transport.abort()  # no FIN handshake: as when a mobile link drops


async def test_connection_cut_mid_part_then_resumed(service_process):
    svc = service_process
    h = svc.harness
    plan = h.new_plan()
    await svc.publish(h.period_opened(plan.period_id), "000000")
    await svc.publish(h.approved(plan, 1, datetime.now(timezone.utc)), plan.region)
    guru = h.guru(plan.teacher_nip)
    head, tail = b"%PDF-1.4\n%", b"\n" + samples.PDF[9:]
    data = head + os.urandom(2 * 5 * MiB + 4321 - len(head) - len(tail)) + tail
    parts = [data[i:i + 5 * MiB] for i in range(0, len(data), 5 * MiB)]

    async with httpx.AsyncClient(base_url=svc.url, timeout=30) as client:
        async def plan_known():
            r = await client.get("/v1/evidence", params={"plan_id": plan.plan_id}, headers=guru)
            return r.status_code == 200

        await wait_for(plan_known)
        body = {"plan_id": plan.plan_id, "item_id": "pk-1", "file_name": "rekaman.pdf",
                "size_bytes": len(data), "content_type": "application/pdf",
                "sha256": hashlib.sha256(data).hexdigest()}
        started = await client.post("/v1/uploads", json=body, headers=guru)
        assert started.status_code == 201, started.text
        upload_id = started.json()["upload_id"]

        def part_headers(n: int) -> dict:
            return {**guru, "X-Part-SHA256": hashlib.sha256(parts[n - 1]).hexdigest()}

        # The link drops half-way through part 1, and again half-way through part 2.
        for n in (1, 2):
            if n == 2:
                ok = await client.put(f"/v1/uploads/{upload_id}/parts/1", content=parts[0], headers=part_headers(1))
                assert ok.status_code == 200, ok.text
            await send_half_and_drop(svc.port, f"/v1/uploads/{upload_id}/parts/{n}", part_headers(n),
                                     parts[n - 1], len(parts[n - 1]) // 2)
            status = (await client.get(f"/v1/uploads/{upload_id}", headers=guru)).json()
            # Nothing of the half part is kept: the server still waits for part n.
            assert status["parts_received"] == list(range(1, n))
            assert status["next_part"] == n and status["offset"] == (n - 1) * 5 * MiB

        # Resume from what the server says it has.
        status = (await client.get(f"/v1/uploads/{upload_id}", headers=guru)).json()
        for n in range(status["next_part"], status["parts_total"] + 1):
            sent = await client.put(f"/v1/uploads/{upload_id}/parts/{n}", content=parts[n - 1], headers=part_headers(n))
            assert sent.status_code == 200, sent.text
        done = await client.post(f"/v1/uploads/{upload_id}/complete", headers=guru)
        assert done.status_code == 201, done.text
        evidence = done.json()
        assert evidence["sha256"] == hashlib.sha256(data).hexdigest() and evidence["size_bytes"] == len(data)

        link = await client.get(f"/v1/evidence/{evidence['evidence_id']}/download", headers=guru)
        downloaded = await client.get(link.json()["url"])
        assert downloaded.content == data
        assert (await client.get("/health/ready")).status_code == 200
    assert svc.minio._list_multipart_uploads(svc.settings.s3_bucket).uploads == []
    assert svc.process.poll() is None  # the service is still running
