"""nats-py's fetch ending with a bare asyncio.TimeoutError reaches FastStream as the nats
TimeoutError it treats as "no message this time"."""

import asyncio

import nats.errors
import pytest
from nats.js.client import JetStreamContext

import kinerja_shared.messaging  # noqa: F401  (applies the fix)
from kinerja_shared.messaging.nats_compat import normalise_timeouts

async def test_a_bare_timeout_becomes_the_nats_timeout():
    async def fetch(*_args, **_kwargs):
        raise asyncio.TimeoutError

    with pytest.raises(nats.errors.TimeoutError):
        await normalise_timeouts(fetch)()

async def test_other_outcomes_pass_through_unchanged():
    async def fetch(batch):
        if batch == 0:
            raise nats.errors.ConnectionClosedError
        return ["m"] * batch

    wrapped = normalise_timeouts(fetch)
    assert await wrapped(2) == ["m", "m"]
    with pytest.raises(nats.errors.ConnectionClosedError):
        await wrapped(0)
    assert normalise_timeouts(wrapped) is wrapped  # applied once however often imported

def test_the_pull_subscription_is_patched():
    assert getattr(JetStreamContext.PullSubscription.fetch, "_kinerja_timeout_normalised", False)
