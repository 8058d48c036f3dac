from __future__ import annotations

import pytest

from app.providers.urls import is_loopback_url, validate_endpoint_url


@pytest.mark.parametrize(
    ("url", "fragment"),
    [
        ("file:///etc/passwd", "only http and https"),
        ("ftp://example.test", "only http and https"),
        ("http://169.254.169.254/latest/meta-data", "link-local"),
        ("http://[fe80::1]/v1", "link-local"),
        ("http://0.0.0.0:8000/v1", "unspecified"),
        ("http://224.0.0.1/v1", "multicast"),
        ("http://user:pass@127.0.0.1/v1", "credentials"),
        ("http:///v1", "no host"),
        ("http://127.0.0.1:8000/v1#frag", "fragments"),
        ("http://[::ffff:169.254.169.254]/v1", "link-local"),
    ],
)
def test_refused_urls(url: str, fragment: str) -> None:
    with pytest.raises(ValueError, match=fragment):
        validate_endpoint_url(url, allow_private=True)


def test_private_addresses_follow_the_setting() -> None:
    assert (
        validate_endpoint_url("http://127.0.0.1:11434/v1/", allow_private=True) == "http://127.0.0.1:11434/v1"
    )
    assert validate_endpoint_url("http://10.1.2.3:8000/v1", allow_private=True) == "http://10.1.2.3:8000/v1"
    for url in ("http://127.0.0.1:11434/v1", "http://192.168.1.5/v1", "http://localhost:8000/v1"):
        with pytest.raises(ValueError, match="private"):
            validate_endpoint_url(url, allow_private=False)


def test_loopback_detection() -> None:
    assert is_loopback_url("http://127.0.0.1:8000/local/v1")
    assert is_loopback_url("http://localhost:8000")
    assert not is_loopback_url("https://api.openai.com/v1")
