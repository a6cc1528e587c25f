"""Outbound HTTP to URLs a tenant chose, guarded against server-side request forgery (SSRF).

A workspace may point the server at its own endpoint (an OpenAI-compatible LLM server). Left
alone, that lets any tenant make the server talk to the instance's own network (127.0.0.1,
169.254.169.254, PostgreSQL on :5432, Redis on :6379...) and read the answers back. The rule:

* Only public (globally routable) addresses are reached: loopback, link-local, private,
  shared (CGNAT), multicast, reserved and unspecified addresses are refused, also when they
  hide inside an IPv6 form (IPv4-mapped `::ffff:127.0.0.1`, NAT64, 6to4).
* The check happens **when connecting**: `guarded_client` resolves the host name itself,
  checks every address and connects to a checked address only, so a DNS answer that changes
  between a check and the connection (DNS rebinding) cannot slip through. The request keeps
  its host name, so the Host header, TLS SNI and certificate verification are unchanged.
* Redirects are not followed; were a caller to follow them, every hop connects through the
  same guard.
* The operator may allow named hosts or networks (`FLOW_OUTBOUND_ALLOW`, e.g. a self-hosted
  Ollama on the LAN): an allowed host name may resolve anywhere, an allowed network admits its
  addresses whatever name led there.

`check_url` is the early, literal half of the rule, for validating input (a 422 at once rather
than a failure at the first call); it cannot replace the check at connect time, because a name
may resolve differently later.

Why not a library: the maintained httpx guards we looked at (httpx-secure, safehttpx) either
cannot let the operator allow a private network or only wrap GET; the guard here is one httpcore
network backend, the extension point httpcore provides for exactly this.
"""

from __future__ import annotations

import ipaddress
import re
import socket
import ssl
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import anyio
import httpcore
import httpx

from intuitivus_flow.config import IPNetwork, parse_allow_entry

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[[str, int], Awaitable[Sequence[str]]]

ALLOWED_SCHEMES = frozenset({"http", "https"})
# NAT64 (RFC 6052) writes an IPv4 address in the last 32 bits of this prefix.
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
# Host names that are loopback by definition (RFC 6761), whatever a resolver says.
_LOOPBACK_NAMES = ("localhost",)


class RefusedURL(ValueError):
    """A URL this instance will not connect to (a literal internal address, a bad scheme)."""


class RefusedAddress(httpx.ConnectError):
    """Connecting was refused: the host resolved only to addresses outside the rule.

    A `ConnectError`, so code that treats network failures generically still does; callers
    that want to say why catch this class first.
    """


def translated_ipv4(address: IPAddress) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address is only another way of writing: IPv4-mapped
    (`::ffff:127.0.0.1`) and NAT64 (`64:ff9b::7f00:1`) reach exactly that address."""
    if isinstance(address, ipaddress.IPv4Address):
        return None
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address in _NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def is_public(address: IPAddress) -> bool:
    """True for an address on the public internet, and for no other."""
    translated = translated_ipv4(address)
    if translated is not None:
        return is_public(translated)
    if isinstance(address, ipaddress.IPv6Address):
        # 6to4 relays deliver to the IPv4 address inside; a private one stays private.
        if address.sixtofour is not None and not is_public(address.sixtofour):
            return False
        if address.is_site_local:
            return False
    internal = (
        address.is_loopback
        or address.is_link_local
        or address.is_private
        or address.is_multicast
        or address.is_reserved
        or address.is_unspecified
    )
    # `is_global` also excludes ranges none of the flags above name (100.64.0.0/10, CGNAT).
    return address.is_global and not internal


def literal_address(host: str) -> IPAddress | None:
    """The address a host written as a number stands for, in every form resolvers accept.

    `[::1]`, `127.0.0.1`, and the legacy IPv4 forms `2130706433`, `0x7f.1`, `0177.0.0.1`,
    `127.1` (what inet_aton, and so getaddrinfo, accept). A host name gives None.
    """
    bare = host.strip("[]").rstrip(".")
    try:
        return ipaddress.ip_address(bare.split("%", 1)[0])
    except ValueError:
        pass
    if not re.fullmatch(r"[0-9a-fA-FxX.]+", bare) or not re.search(r"(^|\.)(0[xX])?[0-9]", bare):
        return None
    try:
        return ipaddress.IPv4Address(socket.inet_aton(bare))
    except OSError:
        return None


@dataclass(frozen=True, slots=True)
class OutboundPolicy:
    """Which addresses outbound requests to tenant-chosen URLs may reach. The default allows
    the public internet only; `parse` adds the operator's exceptions."""

    hosts: frozenset[str] = frozenset()
    networks: tuple[IPNetwork, ...] = ()

    @classmethod
    def parse(cls, entries: Iterable[str]) -> OutboundPolicy:
        parsed = [parse_allow_entry(entry) for entry in entries if entry.strip()]
        return cls(
            hosts=frozenset(item for item in parsed if isinstance(item, str)),
            networks=tuple(item for item in parsed if not isinstance(item, str)),
        )

    def allows_host(self, host: str) -> bool:
        """The operator named this host: it may resolve to any address."""
        return host.lower().rstrip(".") in self.hosts

    def allows_address(self, address: IPAddress) -> bool:
        if is_public(address):
            return True
        translated = translated_ipv4(address)
        candidates = [address, translated] if translated else [address]
        return any(
            candidate in network
            for candidate in candidates
            for network in self.networks
            if candidate.version == network.version
        )

    def check_url(self, url: str) -> None:
        """Refuse, with `RefusedURL`, a URL that cannot be allowed whatever DNS says: another
        scheme than http(s), no host, or a host that literally is an address outside the rule."""
        parts = urlsplit(url)
        if parts.scheme.lower() not in ALLOWED_SCHEMES:
            raise RefusedURL("only http and https URLs are allowed")
        host = parts.hostname
        if not host:
            raise RefusedURL("the URL has no host")
        if self.allows_host(host):
            return
        address = _loopback_for_name(host) or literal_address(host)
        if address is not None and not self.allows_address(address):
            raise RefusedURL(_refusal(host))

    def client(
        self,
        *,
        timeout: httpx.Timeout | float,
        resolver: Resolver | None = None,
        verify: ssl.SSLContext | None = None,
    ) -> httpx.AsyncClient:
        """An httpx client whose every connection goes through this policy (see module doc).
        `verify`: the TLS context (default: httpx's, trusting certifi's authorities)."""
        return httpx.AsyncClient(
            transport=GuardedTransport(self, resolver=resolver, verify=verify),
            timeout=timeout,
            follow_redirects=False,
            # Environment proxies would connect on our behalf to an address we never checked.
            trust_env=False,
        )


def _loopback_for_name(host: str) -> IPAddress | None:
    name = host.lower().rstrip(".")
    if any(name == loopback or name.endswith("." + loopback) for loopback in _LOOPBACK_NAMES):
        return ipaddress.IPv4Address("127.0.0.1")
    return None


def _refusal(host: str) -> str:
    return (
        f"{host} is not a public address; the instance's operator can allow it "
        "(FLOW_OUTBOUND_ALLOW)"
    )


async def resolve(host: str, port: int) -> list[str]:
    """The system resolver, off the event loop (anyio runs getaddrinfo in a thread)."""
    answers = await anyio.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [str(sockaddr[0]) for *_, sockaddr in answers]


class GuardedNetworkBackend(httpcore.AsyncNetworkBackend):
    """httpcore's network layer, with the policy applied to the addresses it connects to."""

    def __init__(self, policy: OutboundPolicy, resolver: Resolver | None = None) -> None:
        self._policy = policy
        self._resolve = resolver or resolve
        self._backend = httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 - httpcore's interface
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        try:
            with anyio.fail_after(timeout):  # resolving counts against the connect timeout
                addresses = await self._allowed_addresses(host, port)
        except TimeoutError as exc:
            raise httpcore.ConnectTimeout(f"resolving {host} timed out") from exc
        failure: Exception | None = None
        for address in addresses:  # like getaddrinfo users do: the next one when one fails
            try:
                return await self._backend.connect_tcp(
                    str(address),
                    port,
                    timeout=timeout,
                    local_address=local_address,
                    socket_options=socket_options,
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as error:
                failure = error
        assert failure is not None  # _allowed_addresses never returns an empty list
        raise failure

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,  # noqa: ASYNC109 - httpcore's interface
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise RefusedAddress("connections to local sockets are not allowed")

    async def sleep(self, seconds: float) -> None:
        await self._backend.sleep(seconds)

    async def _allowed_addresses(self, host: str, port: int) -> list[IPAddress]:
        addresses = await self._addresses(host, port)
        if self._policy.allows_host(host):
            return addresses
        allowed = [address for address in addresses if self._policy.allows_address(address)]
        if not allowed:
            # Which addresses a name has stays in the server: they are the internal network.
            raise RefusedAddress(_refusal(host))
        return allowed

    async def _addresses(self, host: str, port: int) -> list[IPAddress]:
        literal = literal_address(host)
        if literal is not None:
            return [literal]
        try:
            answers = await self._resolve(host, port)
        except OSError as exc:
            raise httpcore.ConnectError(f"cannot resolve {host}: {exc}") from exc
        addresses = [parsed for answer in answers if (parsed := literal_address(answer))]
        if not addresses:
            raise httpcore.ConnectError(f"{host} resolved to no address")
        return addresses


class GuardedTransport(httpx.AsyncHTTPTransport):
    """httpx's own transport over a connection pool whose network backend is guarded."""

    def __init__(
        self,
        policy: OutboundPolicy,
        *,
        resolver: Resolver | None = None,
        verify: ssl.SSLContext | None = None,
    ) -> None:
        ssl_context = verify or httpx.create_ssl_context(trust_env=False)
        super().__init__(verify=ssl_context, trust_env=False)
        limits = httpx.Limits()
        # httpx takes no network backend, so its pool is replaced by one with the same
        # defaults that connects through the guard. TLS still verifies the URL's host name:
        # httpcore gives the origin's host, not the address, as server_hostname.
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=ssl_context,
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            network_backend=GuardedNetworkBackend(policy, resolver),
        )
