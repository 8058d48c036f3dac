"""SSRF-safe endpoint URLs: scheme, host, credentials, fragments, and what the host resolves to."""

from __future__ import annotations

import socket
from typing import Any

import pytest

from app.providers.urls import avalidate_endpoint_url, is_loopback_url, join_url, validate_endpoint_url

# Names resolved by the fake DNS below; anything else goes to the real resolver (IP literals, localhost).
FAKE_DNS = {
    "metadata.attacker.test": ["169.254.169.254"],
    "intranet.corp.test": ["10.0.0.7"],
    "public.example.test": ["93.184.215.14", "2606:2800:21f:cb07:6820:80da:af6b:8b2c"],
    "rebind.attacker.test": ["93.184.215.14", "127.0.0.1"],
}


@pytest.fixture(autouse=True)
def fake_dns(monkeypatch: pytest.MonkeyPatch) -> None:
    real = socket.getaddrinfo

    def getaddrinfo(host: str, port: int, *args: Any, **kwargs: Any) -> list[Any]:
        if host in FAKE_DNS:
            return [
                (socket.AF_INET6 if ":" in ip else socket.AF_INET, socket.SOCK_STREAM, 6, "", (ip, port))
                for ip in FAKE_DNS[host]
            ]
        if host.endswith(".test"):
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)


@pytest.mark.parametrize(
    ("url", "fragment"),
    [
        ("file:///etc/passwd", "only http and https"),
        ("ftp://example.test", "only http and https"),
        ("gopher://127.0.0.1:6379/_INFO", "only http and https"),
        ("127.0.0.1:8000/v1", "only http and https"),
        ("", "empty"),
        ("http://169.254.169.254/latest/meta-data", "link-local cloud metadata"),
        ("http://169.254.1.1/v1", "link-local"),
        ("http://[fe80::1]/v1", "link-local"),
        ("http://[fd00:ec2::254]/latest", "cloud metadata"),
        ("http://100.100.100.200/latest", "cloud metadata"),
        ("http://[::ffff:169.254.169.254]/v1", "link-local"),
        ("http://[64:ff9b::a9fe:a9fe]/v1", "link-local"),  # NAT64 of the metadata IP
        ("http://[2002:a9fe:a9fe::1]/v1", "link-local"),  # 6to4 of the metadata IP
        ("http://0.0.0.0:8000/v1", "unspecified"),
        ("http://[::]:8000/v1", "unspecified"),
        ("http://224.0.0.1/v1", "multicast"),
        ("http://240.0.0.1/v1", "reserved"),
        ("http://user:pass@127.0.0.1/v1", "credentials"),
        ("http://sk-key@api.example.test/v1", "credentials"),
        ("http:///v1", "no host"),
        ("http://127.0.0.1:8000/v1#frag", "fragments"),
        ("http://127.0.0.1:99999/v1", "port"),
        ("http://127.0.0.1:8000/v 1", "spaces"),
        ("http://metadata.attacker.test/v1", "metadata.attacker.test resolves to a refused address"),
        ("http://nowhere.test/v1", "cannot resolve host 'nowhere.test'"),
    ],
)
def test_refused_even_when_private_is_allowed(url: str, fragment: str) -> None:
    with pytest.raises(ValueError, match=fragment):
        validate_endpoint_url(url, allow_private=True)


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:11434/v1",
        "http://localhost:8000/v1",
        "http://[::1]:8000/v1",
        "http://10.1.2.3:8000/v1",
        "http://192.168.1.5/v1",
        "http://100.64.0.9:11434/v1",  # shared address space, e.g. a Tailscale peer
        "http://intranet.corp.test/v1",
        "http://rebind.attacker.test/v1",
    ],
)
def test_private_addresses_follow_the_setting(url: str) -> None:
    assert validate_endpoint_url(url, allow_private=True) == url
    with pytest.raises(ValueError, match="private endpoints are not allowed"):
        validate_endpoint_url(url, allow_private=False)


def test_public_hosts_pass_and_urls_are_normalised() -> None:
    assert validate_endpoint_url(" HTTPS://Public.Example.TEST/v1/ ", allow_private=False) == (
        "https://public.example.test/v1"
    )
    assert validate_endpoint_url(
        "https://93.184.215.14:8443/openai/v1?api-version=1", allow_private=False
    ) == ("https://93.184.215.14:8443/openai/v1?api-version=1")
    assert validate_endpoint_url("http://[2606:2800:21f:cb07:6820:80da:af6b:8b2c]/", allow_private=False) == (
        "http://[2606:2800:21f:cb07:6820:80da:af6b:8b2c]"
    )


async def test_async_variant() -> None:
    assert (
        await avalidate_endpoint_url("http://127.0.0.1:8000/v1/", allow_private=True)
        == "http://127.0.0.1:8000/v1"
    )
    with pytest.raises(ValueError, match="link-local"):
        await avalidate_endpoint_url("http://169.254.169.254/", allow_private=True)


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("http://127.0.0.1:8000/local/v1", True),
        ("http://127.8.9.10", True),
        ("http://localhost:8000", True),
        ("http://LOCALHOST.:8000", True),
        ("http://app.localhost/v1", True),
        ("http://[::1]:8000/v1", True),
        ("http://[::ffff:127.0.0.1]/v1", True),
        ("https://api.openai.com/v1", False),
        ("http://10.0.0.1/v1", False),
        ("not a url", False),
        ("http://[::1", False),
    ],
)
def test_loopback_detection(url: str, expected: bool) -> None:
    assert is_loopback_url(url) is expected


def test_join_url_keeps_the_query() -> None:
    assert join_url("http://h:1/v1/", "/models") == "http://h:1/v1/models"
    assert (
        join_url("https://h/v1?api-version=2", "chat/completions")
        == "https://h/v1/chat/completions?api-version=2"
    )
