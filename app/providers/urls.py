"""SSRF-safe outbound URLs: what an endpoint's base_url may point at."""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from urllib.parse import urlsplit, urlunsplit

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


def _blocked_always(ip: IPAddress) -> str | None:
    # Link-local covers the cloud metadata service (169.254.169.254, fe80::/10).
    if ip.is_link_local:
        return "a link-local address (cloud metadata lives there)"
    if ip.is_multicast:
        return "a multicast address"
    if ip.is_unspecified:
        return "an unspecified address"
    if ip.is_reserved:
        return "a reserved address"
    return None


def check_address(ip: IPAddress, *, allow_private: bool) -> None:
    """Raise ValueError when an outbound call may not go to `ip`."""
    mapped = ip.ipv4_mapped if isinstance(ip, ipaddress.IPv6Address) else None
    ip = mapped or ip
    if reason := _blocked_always(ip):
        raise ValueError(f"{ip} is {reason}")
    if not allow_private and (ip.is_private or ip.is_loopback):
        raise ValueError(f"{ip} is a private or loopback address, and private endpoints are not allowed")


def _split(url: str) -> tuple[str, str, int]:
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https"):
        raise ValueError("only http and https URLs are allowed")
    if not parts.hostname:
        raise ValueError("the URL has no host")
    if parts.username or parts.password:
        raise ValueError("credentials in the URL are not allowed; use the API key field")
    if parts.fragment:
        raise ValueError("fragments are not allowed")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError as exc:
        raise ValueError("the port is not valid") from exc
    return parts.scheme, parts.hostname, port


def normalise(url: str) -> str:
    parts = urlsplit(url.strip())
    return urlunsplit((parts.scheme, parts.netloc, parts.path.rstrip("/"), parts.query, "")).rstrip("/")


def validate_endpoint_url(url: str, *, allow_private: bool) -> str:
    """The normalised URL if every address its host resolves to is allowed; ValueError otherwise."""
    _scheme, host, port = _split(url)
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise ValueError(f"cannot resolve host {host!r}") from exc
    for info in infos:
        check_address(ipaddress.ip_address(info[4][0]), allow_private=allow_private)
    return normalise(url)


async def avalidate_endpoint_url(url: str, *, allow_private: bool) -> str:
    """`validate_endpoint_url` off the event loop (DNS resolution blocks)."""
    return await asyncio.to_thread(validate_endpoint_url, url, allow_private=allow_private)


def is_loopback_url(url: str) -> bool:
    host = urlsplit(url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
