"""Where webhooks may go: the allow-list patterns, the URL rules, the address rules."""

import ipaddress

import pytest

from analytics.webhooks.settings import WebhookSettings
from analytics.webhooks.targets import (
    TargetRefusedError,
    check_url,
    forbidden_address,
    host_allowed,
    parse_host_pattern,
)

ALLOWED = ["*.example.com", "hooks.partner.io"]


def check(url: str, *, dev_mode: bool = False, allowed=ALLOWED) -> str:
    return check_url(url, allowed_hosts=allowed, dev_mode=dev_mode)


@pytest.mark.parametrize(
    ("pattern", "normalised"),
    [
        ("*.Example.com", "*.example.com"),
        ("hooks.partner.io.", "hooks.partner.io"),
        (" * ", "*"),
        ("203.0.113.7", "203.0.113.7"),
    ],
)
def test_allow_list_patterns_are_normalised(pattern, normalised):
    assert parse_host_pattern(pattern) == normalised


@pytest.mark.parametrize(
    "pattern", ["https://example.com", "example.com/path", "a.*.example.com", "*example.com", ""]
)
def test_malformed_allow_list_patterns_are_refused(pattern):
    with pytest.raises(ValueError, match="is not a host"):
        parse_host_pattern(pattern)


def test_the_setting_reads_a_comma_separated_list_and_refuses_a_bad_entry(monkeypatch):
    monkeypatch.setenv("WEBHOOK_ALLOWED_HOSTS", "*.Example.com, hooks.partner.io")
    settings = WebhookSettings(dev_mode=True)
    assert settings.webhook_allowed_hosts == ["*.example.com", "hooks.partner.io"]
    monkeypatch.setenv("WEBHOOK_ALLOWED_HOSTS", "https://example.com")
    with pytest.raises(ValueError, match=r"is not a host"):
        WebhookSettings(dev_mode=True)


@pytest.mark.parametrize(
    ("host", "allowed"),
    [
        ("a.example.com", True),
        ("deep.a.example.com", True),
        ("example.com", False),  # a wildcard covers sub-domains, not the domain itself
        ("evilexample.com", False),
        ("example.com.evil.io", False),
        ("hooks.partner.io", True),
        ("x.hooks.partner.io", False),
    ],
)
def test_host_matching(host, allowed):
    assert host_allowed(host, ALLOWED) is allowed


def test_an_allowed_https_url_is_accepted():
    assert check("https://A.example.com:8443/hooks?x=1") == "https://A.example.com:8443/hooks?x=1"
    assert check("https://hooks.partner.io/in") == "https://hooks.partner.io/in"


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://a.example.com/hooks", "must be https"),
        ("ftp://a.example.com/hooks", "must be https"),
        ("https://other.io/hooks", "not on the allow-list"),
        ("https://example.com/hooks", "not on the allow-list"),
        ("https://user:pw@a.example.com/", "credentials"),
        ("https://a.example.com/#frag", "fragment"),
        ("https://a.example.com:0/", "port"),
        ("https://a.example.com:99999/", "not a valid URL"),
        ("https:///path", "no host"),
        ("https://exa_mple.example.com/", "not a valid host name"),
        ("https://localhost/", "not on the allow-list"),
        ("https://127.0.0.1/", "not on the allow-list"),
        ("https://" + "a" * 2000 + ".example.com/", "longer than"),
    ],
)
def test_refused_urls_name_the_rule(url, reason):
    with pytest.raises(TargetRefusedError, match=reason):
        check(url)


def test_an_empty_allow_list_refuses_everything_outside_dev_mode():
    with pytest.raises(TargetRefusedError, match="allow-list"):
        check("https://a.example.com/", allowed=[])


def test_a_star_allows_any_public_host_but_no_private_ip_literal():
    assert check("https://anything.io/", allowed=["*"]) == "https://anything.io/"
    for url in ("https://10.1.2.3/", "https://169.254.169.254/latest", "https://[::1]/"):
        with pytest.raises(TargetRefusedError, match="address"):
            check(url, allowed=["*"])


def test_dev_mode_allows_http_and_loopback_without_listing_it():
    for url in ("http://127.0.0.1:9000/h", "http://localhost:9000/h", "http://[::1]:9000/h"):
        assert check(url, dev_mode=True, allowed=[]) == url
    # ...but other hosts still need the allow-list.
    with pytest.raises(TargetRefusedError, match="allow-list"):
        check("http://10.0.0.1/h", dev_mode=True, allowed=[])
    assert check("http://a.example.com/h", dev_mode=True) == "http://a.example.com/h"


@pytest.mark.parametrize(
    ("address", "reason"),
    [
        ("127.0.0.1", "loopback"),
        ("::1", "loopback"),
        ("10.0.0.5", "private"),
        ("192.168.1.1", "private"),
        ("172.16.0.1", "private"),
        ("169.254.169.254", "link-local"),
        ("fe80::1", "link-local"),
        ("::ffff:10.0.0.5", "private"),
        ("0.0.0.0", "unspecified"),  # noqa: S104 - an address under test, not bound
        ("224.0.0.1", "multicast"),
        ("100.64.0.1", "not a public address"),
    ],
)
def test_internal_addresses_are_forbidden(address, reason):
    assert reason in (forbidden_address(ipaddress.ip_address(address)) or "")


@pytest.mark.parametrize("address", ["93.184.215.14", "2606:4700::6810:85e5", "8.8.8.8"])
def test_public_addresses_are_not(address):
    assert forbidden_address(ipaddress.ip_address(address)) is None
