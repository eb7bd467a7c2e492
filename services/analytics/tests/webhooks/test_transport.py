"""Attempts over real HTTP, and the address rules enforced when connecting."""

import ipaddress
from datetime import UTC, datetime

import httpcore
import pytest
from webhook_receiver import Receiver

from analytics.webhooks.signing import new_secret, signed_headers
from analytics.webhooks.transport import GuardedBackend, Sender, http_client

BODY = '{"id":"e-1"}'


def sender(*, dev_mode: bool, allowed=(), resolver=None, timeout: float = 5.0) -> Sender:
    kwargs = {"resolver": resolver} if resolver is not None else {}
    client = http_client(dev_mode=dev_mode, timeout=timeout, **kwargs)
    return Sender(client, allowed_hosts=list(allowed), dev_mode=dev_mode, timeout=timeout)


def static(*addresses: str):
    async def resolve(host: str, port: int):
        return [ipaddress.ip_address(a) for a in addresses]

    return resolve


async def test_a_2xx_answer_is_a_success_and_the_receiver_verifies_it():
    secret = new_secret()
    async with Receiver(secrets={"a": secret}) as receiver:
        send = sender(dev_mode=True)
        headers = signed_headers(secret, msg_id="e-1", at=datetime.now(UTC), body=BODY)
        result = await send.send(receiver.url("a"), headers, BODY)
        await send.client.aclose()
    assert (result.succeeded, result.status_code, result.outcome) == (True, 204, "success")
    assert [r.webhook_id for r in receiver.accepted("a")] == ["e-1"]


@pytest.mark.parametrize("status", [302, 410, 503])
async def test_other_answers_fail_with_the_status_and_an_excerpt(status):
    secret = new_secret()
    async with Receiver(secrets={"a": secret}, fail_with={"a": status}) as receiver:
        send = sender(dev_mode=True)
        headers = signed_headers(secret, msg_id="e-1", at=datetime.now(UTC), body=BODY)
        result = await send.send(receiver.url("a"), headers, BODY)
        await send.client.aclose()
    assert (result.succeeded, result.status_code, result.outcome) == (False, status, "http_error")
    assert result.error == f"HTTP {status}: busy"


async def test_no_server_is_a_transport_error():
    receiver = Receiver()  # never started: nothing listens on its port
    send = sender(dev_mode=True)
    result = await send.send(receiver.url("a"), {}, BODY)
    await send.client.aclose()
    assert (result.status_code, result.outcome) == (None, "transport_error")
    assert "ConnectError" in (result.error or "")


async def test_outside_dev_mode_a_name_resolving_to_a_private_address_is_refused():
    send = sender(dev_mode=False, allowed=["*.example.com"], resolver=static("10.0.0.5"))
    result = await send.send("https://hooks.example.com/in", {}, BODY)
    await send.client.aclose()
    assert result.outcome == "refused"
    assert "resolves to 10.0.0.5, a private address" in (result.error or "")


async def test_one_internal_address_among_public_ones_is_enough_to_refuse():
    send = sender(
        dev_mode=False, allowed=["*.example.com"], resolver=static("93.184.215.14", "127.0.0.1")
    )
    result = await send.send("https://hooks.example.com/in", {}, BODY)
    await send.client.aclose()
    assert result.outcome == "refused"
    assert "loopback" in (result.error or "")


async def test_outside_dev_mode_localhost_on_the_allow_list_is_still_refused_by_address():
    async with Receiver() as receiver:
        send = sender(dev_mode=False, allowed=["localhost"])
        result = await send.send(f"https://localhost:{receiver.port}/hooks/a", {}, BODY)
        await send.client.aclose()
    assert result.outcome == "refused"
    assert "loopback" in (result.error or "")
    assert receiver.received == []


async def test_a_target_no_longer_allowed_is_refused_before_connecting():
    send = sender(dev_mode=False, allowed=["hooks.partner.io"], resolver=static("93.184.215.14"))
    result = await send.send("https://old.example.com/in", {}, BODY)
    await send.client.aclose()
    assert result.outcome == "refused"
    assert "allow-list" in (result.error or "")


async def test_the_connection_goes_to_the_checked_address_not_to_a_second_lookup():
    connected: list[tuple[str, int]] = []

    class Recording(httpcore.AsyncNetworkBackend):
        async def connect_tcp(self, host, port, **_options):
            connected.append((host, port))
            raise httpcore.ConnectError("recorded")

    backend = GuardedBackend(
        static("93.184.215.14", "2606:2800:21f:cb07:6820:80da:af6b:8b2c"), Recording()
    )
    with pytest.raises(httpcore.ConnectError, match="recorded"):
        await backend.connect_tcp("hooks.example.com", 443, timeout=1)
    assert connected == [("93.184.215.14", 443), ("2606:2800:21f:cb07:6820:80da:af6b:8b2c", 443)]
    with pytest.raises(httpcore.ConnectError, match="unix sockets"):
        await backend.connect_unix_socket("/run/x.sock")
