"""The e-Kinerja client against the simulator: both tokens, caching, one refresh on 401,
timeouts and dropped connections as EkinerjaUnreachable, tokens never logged."""

from __future__ import annotations

import httpx
import pytest

from kinerja_ekinerja_sync.adapters.ekinerja_client import EkinerjaUnreachable, HttpEkinerjaClient
from kinerja_ekinerja_sync.domain.mapping import to_kinerja_periodik
from kinerja_ekinerja_sync.service_layer.sync import final_result_from
from kinerja_shared.testing.servers import free_port


def make_client(url: str, **changes) -> HttpEkinerjaClient:
    options = dict(client_id="kinerja", client_secret="kinerja-sim-secret", username="kinerja",
                   password="kinerja-sim-password", timeout_s=2.0)
    options.update(changes)
    return HttpEkinerjaClient(url, **options)


async def test_save_and_read_with_cached_tokens(simulator, capsys, make_finalized):
    client = make_client(simulator.url)
    event = make_finalized()
    payload = to_kinerja_periodik(final_result_from(event))
    try:
        saved = await client.save_kinerja_periodik(payload)
        assert saved.status == 200 and saved.record_id
        history = await client.kinerja_periodik_history(event.teacher.nip)
        assert [r["id"] for r in history.body["data"]] == [saved.record_id]
        assert client.token_fetches == 1  # cached across calls
        # Tokens revoked on BKN's side: the next call gets 401, refreshes once and succeeds.
        tokens = list(simulator.app.state.sim.api_tokens) + list(simulator.app.state.sim.sso_tokens)
        assert tokens
        await client.kinerja_periodik_history(event.teacher.nip)  # still cached
        httpx.post(f"{simulator.url}/simulator/tokens/revoke")
        again = await client.kinerja_periodik_history(event.teacher.nip)
        assert again.status == 200 and client.token_fetches == 2
        tokens += list(simulator.app.state.sim.api_tokens) + list(simulator.app.state.sim.sso_tokens)
    finally:
        await client.aclose()
    captured = capsys.readouterr()
    assert "ekinerja.tokens_obtained" in captured.out + captured.err  # the log was captured...
    assert all(token not in captured.out + captured.err for token in tokens)
    assert all(token not in repr(client) for token in tokens)  # ...and holds no token


async def test_wrong_credentials_become_a_401_answer_not_an_exception(simulator):
    client = make_client(simulator.url, client_secret="wrong")
    try:
        response = await client.save_kinerja_periodik({"pnsDinilaiId": "198503122010012001"})
    finally:
        await client.aclose()
    assert response.status == 401 and "API Manager" in response.message
    assert simulator.records()["count"] == 0


async def test_slow_answer_is_a_timeout(simulator):
    simulator.faults(slow_ms=1500)
    client = make_client(simulator.url, timeout_s=0.5)
    try:
        with pytest.raises(EkinerjaUnreachable) as exc:
            await client.kinerja_periodik_history("198503122010012001")
    finally:
        await client.aclose()
    assert exc.value.kind == "timeout"


async def test_nothing_listening_is_a_connection_error():
    client = make_client(f"http://127.0.0.1:{free_port()}")
    try:
        with pytest.raises(EkinerjaUnreachable) as exc:
            await client.kinerja_periodik_history("198503122010012001")
    finally:
        await client.aclose()
    assert exc.value.kind == "connection"
