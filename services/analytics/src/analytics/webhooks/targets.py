"""Where webhooks may be sent: the allow-list, the URL rules and the address rules.

Pure functions, so that every rule is unit-tested without a network. Two moments check:

- **subscribing** (and changing a URL): :func:`check_url` — https (http only in dev
  mode), no credentials or fragment, a host on ``WEBHOOK_ALLOWED_HOSTS`` (loopback is
  always allowed in dev mode), and an IP literal must be a public address;
- **every delivery attempt**: the URL is checked again (the allow-list may have
  shrunk), and each address the host resolves to must pass :func:`forbidden_address`
  (see :mod:`analytics.webhooks.transport`), so that a public name pointing at an
  internal address cannot aim the service at its own network.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Sequence
from typing import Final
from urllib.parse import SplitResult, urlsplit

MAX_URL_LENGTH: Final = 2000
_LABEL: Final = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")
_LOOPBACK_NAMES: Final = frozenset({"localhost", "localhost.localdomain"})

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class TargetRefusedError(ValueError):
    """A webhook target the rules refuse; the message says which rule."""


def parse_host_pattern(pattern: str) -> str:
    """An allow-list entry, normalised: ``*``, ``*.example.com`` or ``host.example.com``
    (an IP literal is an exact host too). ValueError when it is none of these."""
    text = pattern.strip().lower().rstrip(".")
    if text == "*":
        return text
    name = text.removeprefix("*.")
    if _ip(name) is not None and name == text:
        return text
    if "*" in name or not _is_hostname(name):
        msg = f"{pattern!r} is not a host, '*.domain' or '*'"
        raise ValueError(msg)
    return text


def host_allowed(host: str, patterns: Sequence[str]) -> bool:
    """Whether ``host`` (lower-case) matches one of the normalised ``patterns``."""
    for pattern in patterns:
        if pattern == "*":
            return True
        if pattern.startswith("*."):
            if host.endswith(pattern[1:]):
                return True
        elif host == pattern:
            return True
    return False


def is_loopback_host(host: str) -> bool:
    address = _ip(host)
    if address is not None:
        return address.is_loopback
    return host in _LOOPBACK_NAMES or host.endswith(".localhost")


def check_url(url: str, *, allowed_hosts: Sequence[str], dev_mode: bool) -> str:
    """The URL deliveries go to, normalised; TargetRefusedError naming the broken rule."""
    parts = _split(url, dev_mode=dev_mode)
    host = (parts.hostname or "").rstrip(".")
    address = _ip(host)
    if address is None and not _is_hostname(host):
        msg = f"{host!r} is not a valid host name" if host else "the URL has no host"
        raise TargetRefusedError(msg)
    if dev_mode and is_loopback_host(host):
        return parts.geturl()
    if not host_allowed(host, allowed_hosts):
        msg = f"the host {host!r} is not on the allow-list (WEBHOOK_ALLOWED_HOSTS)"
        raise TargetRefusedError(msg)
    if address is not None and not dev_mode and (reason := forbidden_address(address)):
        msg = f"the address {host} is {reason}"
        raise TargetRefusedError(msg)
    return parts.geturl()


def _split(url: str, *, dev_mode: bool) -> SplitResult:
    """The URL's parts, once scheme, credentials, fragment and port are acceptable."""
    if len(url) > MAX_URL_LENGTH:
        msg = f"the URL is longer than {MAX_URL_LENGTH} characters"
        raise TargetRefusedError(msg)
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError as exc:
        msg = f"not a valid URL: {exc}"
        raise TargetRefusedError(msg) from exc
    schemes = {"https", "http"} if dev_mode else {"https"}
    if parts.scheme not in schemes:
        msg = "the URL must be https" + (" (or http in dev mode)" if dev_mode else "")
        raise TargetRefusedError(msg)
    if parts.username is not None or parts.password is not None:
        msg = "the URL must not carry credentials (the signature authenticates deliveries)"
        raise TargetRefusedError(msg)
    if parts.fragment:
        msg = "the URL must not have a fragment"
        raise TargetRefusedError(msg)
    if port == 0:
        msg = "the URL's port must not be 0"
        raise TargetRefusedError(msg)
    return parts


def forbidden_address(address: IPAddress) -> str | None:
    """Why deliveries must not go to ``address`` outside dev mode, or None when public."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    checks = (
        (address.is_loopback, "a loopback address"),
        (address.is_link_local, "a link-local address"),
        (address.is_unspecified, "an unspecified address"),
        (address.is_multicast, "a multicast address"),
        (address.is_private, "a private address"),
        (address.is_reserved, "a reserved address"),
        (not address.is_global, "not a public address"),
    )
    return next((reason for failed, reason in checks if failed), None)


def _ip(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None


def _is_hostname(host: str) -> bool:
    if not host or len(host) > 253:  # noqa: PLR2004 - the DNS limit on a name
        return False
    return all(_LABEL.match(label) for label in host.split("."))
