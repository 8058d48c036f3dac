"""SSRF-safe outbound URLs: what an endpoint's base_url may point at, and joining API paths onto it."""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from urllib.parse import urlsplit, urlunsplit

import httpx

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# Instance-metadata services that are not all link-local: AWS IMDS over IPv6, ECS task metadata,
# Alibaba Cloud (in the 100.64.0.0/10 shared range, which `is_private` does not cover).
METADATA_ADDRESSES: frozenset[IPAddress] = frozenset(
    ipaddress.ip_address(a) for a in ("169.254.169.254", "169.254.170.2", "fd00:ec2::254", "100.100.100.200")
)
_NAT64 = ipaddress.ip_network("64:ff9b::/96")


def _embedded_ipv4(ip: IPAddress) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address really reaches (mapped, 6to4, NAT64), if any."""
    if not isinstance(ip, ipaddress.IPv6Address):
        return None
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip in _NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def check_address(ip: IPAddress, *, allow_private: bool) -> None:
    """Raise ValueError when an outbound call may not go to `ip`."""
    if (embedded := _embedded_ipv4(ip)) is not None:
        check_address(embedded, allow_private=allow_private)
        return
    if ip in METADATA_ADDRESSES:
        raise ValueError(f"{ip} is a {'link-local ' if ip.is_link_local else ''}cloud metadata address")
    if ip.is_link_local:
        raise ValueError(f"{ip} is a link-local address (cloud metadata services live there)")
    if ip.is_multicast:
        raise ValueError(f"{ip} is a multicast address")
    if ip.is_unspecified:
        raise ValueError(f"{ip} is an unspecified address")
    # Loopback before "reserved": Python counts ::1 as reserved, and a local server on [::1] is legitimate.
    if ip.is_loopback:
        if allow_private:
            return
        raise ValueError(f"{ip} is a loopback address, and private endpoints are not allowed here")
    if ip.is_reserved:
        raise ValueError(f"{ip} is a reserved address")
    if not allow_private and not ip.is_global:
        raise ValueError(f"{ip} is a private address, and private endpoints are not allowed here")


def _checked_parts(url: str) -> tuple[str, str, int | None, str, str]:
    """(scheme, host, explicit port, path, query) of an acceptable URL; ValueError otherwise."""
    if not url:
        raise ValueError("the URL is empty")
    if any(ch.isspace() or not ch.isprintable() for ch in url):
        raise ValueError("the URL contains spaces or control characters")
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise ValueError(f"only http and https URLs are allowed (got {scheme or 'no scheme'!r})")
    if "@" in parts.netloc:
        raise ValueError("credentials in the URL are not allowed; use the API key field")
    if not parts.hostname:
        raise ValueError("the URL has no host")
    if "#" in url:
        raise ValueError("fragments (#...) are not allowed in an endpoint URL")
    try:
        port = parts.port
    except ValueError as exc:
        raise ValueError("the port is not valid") from exc
    return scheme, parts.hostname, port, parts.path, parts.query


def _ip_literal(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host.partition("%")[0])
    except ValueError:
        return None


def _resolve(host: str, port: int) -> list[IPAddress]:
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise ValueError(f"cannot resolve host {host!r}") from exc
    # Scoped IPv6 addresses come back as "fe80::1%eth0"; the scope does not change what is reached.
    addresses = [ipaddress.ip_address(str(info[4][0]).partition("%")[0]) for info in infos]
    if not addresses:
        raise ValueError(f"host {host!r} resolves to no address")
    return addresses


def validate_endpoint_url(url: str, *, allow_private: bool) -> str:
    """The normalised URL if every address its host resolves to is allowed; ValueError otherwise."""
    url = url.strip()
    scheme, host, port, path, query = _checked_parts(url)
    literal = _ip_literal(host)
    for ip in _resolve(host, port or (443 if scheme == "https" else 80)):
        try:
            check_address(ip, allow_private=allow_private)
        except ValueError as exc:
            if literal is not None:
                raise
            raise ValueError(f"{host} resolves to a refused address: {exc}") from None
    netloc = f"[{host}]" if ":" in host else host
    if port is not None:
        netloc = f"{netloc}:{port}"
    return urlunsplit((scheme, netloc, path.rstrip("/"), query, ""))


async def avalidate_endpoint_url(url: str, *, allow_private: bool) -> str:
    """`validate_endpoint_url` off the event loop (DNS resolution blocks)."""
    return await asyncio.to_thread(validate_endpoint_url, url, allow_private=allow_private)


def is_loopback_url(url: str) -> bool:
    """True when the URL's host is this machine (localhost or a loopback IP literal); no DNS lookup."""
    try:
        host = (urlsplit(url.strip()).hostname or "").rstrip(".")
    except ValueError:
        return False
    if host == "localhost" or host.endswith(".localhost"):
        return True
    ip = _ip_literal(host)
    return ip is not None and (_embedded_ipv4(ip) or ip).is_loopback


def join_url(base_url: str, path: str) -> str:
    """`path` appended to the base URL's path, keeping its query (e.g. `?api-version=` on some gateways)."""
    base = httpx.URL(base_url.strip())
    return str(base.copy_with(path=f"{base.path.rstrip('/')}/{path.lstrip('/')}"))
