"""The outbound guard (kit/outbound.py): which addresses tenant-chosen URLs may reach, checked
when connecting. A real HTTP server on 127.0.0.1 stands for the internal service an attacker
aims at: without the guard every request below would reach it. DNS is the one thing faked
(a stub resolver), since no name server is reachable here; no test connects off this machine.
"""

from __future__ import annotations

import datetime
import ipaddress
import socket
import ssl
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import httpx
import pytest
import uvicorn

from intuitivus_flow.kit import outbound
from intuitivus_flow.kit.outbound import (
    OutboundPolicy,
    RefusedAddress,
    RefusedURL,
    is_public,
    literal_address,
)
from tests.llm.vendor_server import API_KEY, RunningVendor, VendorState, build_app, serve_vendor

CHAT = "/v1/chat/completions"
BODY = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}
HEADERS = {"Authorization": f"Bearer {API_KEY}"}

INTERNAL = [
    "127.0.0.1",
    "127.8.9.10",
    "::1",
    "169.254.169.254",
    "10.1.2.3",
    "172.16.0.1",
    "192.168.1.1",
    "100.64.0.1",  # shared address space (CGNAT)
    "0.0.0.0",
    "::",
    "224.0.0.1",
    "ff02::1",
    "240.0.0.1",
    "255.255.255.255",
    "fe80::1",
    "fc00::1",
    "fec0::1",
    "::ffff:127.0.0.1",  # IPv4-mapped
    "::ffff:169.254.169.254",
    "::ffff:10.0.0.1",
    "64:ff9b::a9fe:a9fe",  # NAT64 of 169.254.169.254
    "2002:7f00:1::",  # 6to4 of 127.0.0.1
]
PUBLIC = ["93.184.216.34", "8.8.8.8", "2606:4700:4700::1111", "::ffff:8.8.8.8"]


@pytest.fixture
def vendor() -> Iterator[RunningVendor]:
    yield from serve_vendor()


def stub_resolver(answers: dict[str, Sequence[str]], calls: list[str] | None = None):  # type: ignore[no-untyped-def]
    async def resolve(host: str, port: int) -> Sequence[str]:
        if calls is not None:
            calls.append(host)
        if host not in answers:
            raise OSError(f"unknown host {host}")
        return answers[host]

    return resolve


async def post(policy: OutboundPolicy, url: str, resolver=None, **kw) -> httpx.Response:  # type: ignore[no-untyped-def]
    async with policy.client(timeout=5, resolver=resolver) as client:
        return await client.post(url, json=BODY, headers=HEADERS, **kw)


class TestAddresses:
    @pytest.mark.parametrize("address", INTERNAL)
    def test_internal_addresses_are_not_public(self, address: str) -> None:
        assert not is_public(ipaddress.ip_address(address))
        assert not OutboundPolicy().allows_address(ipaddress.ip_address(address))

    @pytest.mark.parametrize("address", PUBLIC)
    def test_public_addresses_are(self, address: str) -> None:
        assert is_public(ipaddress.ip_address(address))

    @pytest.mark.parametrize(
        "host",
        ["2130706433", "0x7f000001", "0x7f.1", "0177.0.0.1", "127.1", "017700000001"],
    )
    def test_every_numeric_form_of_loopback_is_read_as_an_address(self, host: str) -> None:
        assert literal_address(host) == ipaddress.IPv4Address("127.0.0.1")

    @pytest.mark.parametrize("host", ["[::1]", "::1", "[::ffff:127.0.0.1]"])
    def test_ipv6_literals(self, host: str) -> None:
        address = literal_address(host)
        assert address is not None
        assert not is_public(address)

    @pytest.mark.parametrize("host", ["example.com", "deadbeef", "1.example", "api.openai.com"])
    def test_names_are_not_addresses(self, host: str) -> None:
        assert literal_address(host) is None


class TestAllowList:
    def test_entries_are_networks_or_host_names(self) -> None:
        policy = OutboundPolicy.parse(["10.0.0.0/8", "192.168.1.20", "Ollama.Internal.", "[::1]"])
        assert policy.hosts == {"ollama.internal"}
        assert policy.allows_host("OLLAMA.internal")
        assert policy.allows_address(ipaddress.ip_address("10.20.30.40"))
        assert policy.allows_address(ipaddress.ip_address("192.168.1.20"))
        assert not policy.allows_address(ipaddress.ip_address("192.168.1.21"))
        assert policy.allows_address(ipaddress.ip_address("::1"))
        # An IPv4-mapped form of an allowed IPv4 address is the same address.
        assert policy.allows_address(ipaddress.ip_address("::ffff:10.0.0.1"))
        assert not policy.allows_address(ipaddress.ip_address("127.0.0.1"))

    @pytest.mark.parametrize("entry", ["http://ollama", "10.0.0.0/33", "a b", "-bad-.com/x"])
    def test_bad_entries_are_refused(self, entry: str) -> None:
        with pytest.raises(ValueError, match="neither a host name nor an IP network"):
            OutboundPolicy.parse([entry])

    def test_settings_refuse_a_bad_entry_at_start(self) -> None:
        from pydantic import ValidationError

        from intuitivus_flow.config import Settings

        assert Settings(outbound_allow="10.0.0.0/8, ollama.lan").outbound_allow == [
            "10.0.0.0/8",
            "ollama.lan",
        ]
        with pytest.raises(ValidationError, match="outbound_allow"):
            Settings(outbound_allow="http://ollama.lan:11434")


class TestLiteralCheck:
    @pytest.mark.parametrize(
        "url",
        [
            "http://127.0.0.1:6379/",
            "http://localhost:5432/",
            "http://LOCALHOST./",
            "http://api.localhost/",
            "http://2130706433/",
            "http://0x7f.1/",
            "http://[::1]:8000/",
            "http://[::ffff:127.0.0.1]/",
            "http://169.254.169.254/latest/meta-data/",
            "http://10.0.0.5/",
            "http://0.0.0.0:8000/",
        ],
    )
    def test_internal_literals_are_refused(self, url: str) -> None:
        with pytest.raises(RefusedURL, match="not a public address"):
            OutboundPolicy().check_url(url)

    @pytest.mark.parametrize("url", ["file:///etc/passwd", "gopher://x:6379/_", "http:///path"])
    def test_other_schemes_and_no_host_are_refused(self, url: str) -> None:
        with pytest.raises(RefusedURL):
            OutboundPolicy().check_url(url)

    def test_names_and_public_addresses_pass_until_connect_time(self) -> None:
        OutboundPolicy().check_url("https://api.example.com/v1")
        OutboundPolicy().check_url("http://93.184.216.34/")

    def test_the_operator_allows_what_the_rule_refuses(self) -> None:
        OutboundPolicy.parse(["127.0.0.1"]).check_url("http://localhost:11434/")
        OutboundPolicy.parse(["10.0.0.0/8"]).check_url("http://10.1.2.3:11434/")
        OutboundPolicy.parse(["ollama.lan"]).check_url("http://ollama.lan:11434/")


class TestConnectTime:
    @pytest.mark.parametrize(
        "host",
        ["127.0.0.1", "2130706433", "0x7f.1", "127.1", "[::ffff:127.0.0.1]", "0.0.0.0", "[::1]"],
    )
    async def test_internal_literals_are_refused_before_connecting(
        self, vendor: RunningVendor, host: str
    ) -> None:
        port = vendor.url.rsplit(":", 1)[1]
        with pytest.raises(RefusedAddress, match="not a public address"):
            await post(OutboundPolicy(), f"http://{host}:{port}{CHAT}")
        assert vendor.state.requests == []

    async def test_localhost_is_refused_through_the_system_resolver(
        self, vendor: RunningVendor
    ) -> None:
        port = vendor.url.rsplit(":", 1)[1]
        with pytest.raises(RefusedAddress):
            await post(OutboundPolicy(), f"http://localhost:{port}{CHAT}")
        assert vendor.state.requests == []

    async def test_a_name_is_checked_when_connecting_dns_rebinding(
        self, vendor: RunningVendor
    ) -> None:
        """The name passes the early check (it is not an address), then resolves to loopback:
        the address checked is the one the connection would use, so nothing is sent."""
        port = vendor.url.rsplit(":", 1)[1]
        url = f"http://rebind.test:{port}{CHAT}"
        OutboundPolicy().check_url(url)
        calls: list[str] = []
        resolver = stub_resolver({"rebind.test": ["127.0.0.1"]}, calls)
        with pytest.raises(RefusedAddress, match=r"rebind\.test is not a public address"):
            await post(OutboundPolicy(), url, resolver)
        assert calls == ["rebind.test"]
        assert vendor.state.requests == []

    async def test_a_refusal_is_a_connect_error_for_generic_callers(
        self, vendor: RunningVendor
    ) -> None:
        with pytest.raises(httpx.ConnectError):
            await post(OutboundPolicy(), vendor.url + CHAT)

    async def test_an_allowed_network_is_reached(self, vendor: RunningVendor) -> None:
        response = await post(OutboundPolicy.parse(["127.0.0.0/8"]), vendor.url + CHAT)
        assert response.status_code == 200
        assert len(vendor.state.requests) == 1

    async def test_an_allowed_host_name_is_reached_under_its_name(
        self, vendor: RunningVendor
    ) -> None:
        port = vendor.url.rsplit(":", 1)[1]
        resolver = stub_resolver({"vendor.test": ["127.0.0.1"], "other.test": ["127.0.0.1"]})
        policy = OutboundPolicy.parse(["vendor.test"])
        response = await post(policy, f"http://vendor.test:{port}{CHAT}", resolver)
        assert response.status_code == 200
        # Connected to the checked address, but the request still names the host.
        assert vendor.state.requests[-1][2]["host"] == f"vendor.test:{port}"
        with pytest.raises(RefusedAddress):
            await post(policy, f"http://other.test:{port}{CHAT}", resolver)
        with pytest.raises(RefusedAddress):
            await post(policy, f"http://127.0.0.1:{port}{CHAT}", resolver)
        assert len(vendor.state.requests) == 1

    async def test_redirects_are_not_followed(self, vendor: RunningVendor) -> None:
        vendor.state.modes["openai"] = "redirect"
        response = await post(OutboundPolicy.parse(["127.0.0.1"]), vendor.url + CHAT)
        assert response.status_code == 307
        assert len(vendor.state.requests) == 1

    async def test_a_followed_redirect_is_guarded_at_every_hop(self, vendor: RunningVendor) -> None:
        port = vendor.url.rsplit(":", 1)[1]
        vendor.state.modes["openai"] = "redirect"
        vendor.state.redirect_to = f"http://127.0.0.1:{port}{CHAT}"
        resolver = stub_resolver({"vendor.test": ["127.0.0.1"]})
        with pytest.raises(RefusedAddress):
            await post(
                OutboundPolicy.parse(["vendor.test"]),
                f"http://vendor.test:{port}{CHAT}",
                resolver,
                follow_redirects=True,
            )
        assert len(vendor.state.requests) == 1  # the first hop only

    async def test_proxies_from_the_environment_are_not_used(
        self, vendor: RunningVendor, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        # A proxy would connect on our behalf to an address the guard never saw.
        monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:1")
        monkeypatch.setenv("ALL_PROXY", "http://127.0.0.1:1")
        response = await post(OutboundPolicy.parse(["127.0.0.1"]), vendor.url + CHAT)
        assert response.status_code == 200

    async def test_the_system_resolver_is_the_default(
        self, vendor: RunningVendor, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        calls: list[str] = []
        monkeypatch.setattr(outbound, "resolve", stub_resolver({"x.test": ["127.0.0.1"]}, calls))
        port = vendor.url.rsplit(":", 1)[1]
        with pytest.raises(RefusedAddress):
            await post(OutboundPolicy(), f"http://x.test:{port}{CHAT}")
        assert calls == ["x.test"]


def self_signed(directory: Path, name: str) -> tuple[Path, Path]:
    """A certificate for `name` only (no IP address in it), and its key."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / f"{name}.pem", directory / f"{name}.key"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


@pytest.fixture
def tls_vendor(tmp_path: Path) -> Iterator[tuple[int, VendorState, Path]]:
    """The fake vendor over HTTPS on loopback, with a certificate naming vendor.test only."""
    cert, key = self_signed(tmp_path, "vendor.test")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    state = VendorState()
    config = uvicorn.Config(
        build_app(state),
        host="127.0.0.1",
        port=port,
        log_level="warning",
        lifespan="off",
        ssl_certfile=str(cert),
        ssl_keyfile=str(key),
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "TLS vendor did not start"
        time.sleep(0.02)
    yield port, state, cert
    server.should_exit = True
    thread.join(timeout=10)


async def test_tls_is_verified_against_the_host_name_not_the_address(
    tls_vendor: tuple[int, VendorState, Path],
) -> None:
    """The guard connects to the checked address, yet TLS sends the name (SNI) and checks
    the certificate against it: a certificate for vendor.test passes, for no other name."""
    port, state, cert = tls_vendor
    trusted = ssl.create_default_context(cafile=str(cert))
    resolver = stub_resolver({"vendor.test": ["127.0.0.1"], "other.test": ["127.0.0.1"]})
    policy = OutboundPolicy.parse(["vendor.test", "other.test"])
    async with policy.client(timeout=5, resolver=resolver, verify=trusted) as client:
        response = await client.post(
            f"https://vendor.test:{port}{CHAT}", json=BODY, headers=HEADERS
        )
        assert response.status_code == 200
        with pytest.raises(httpx.ConnectError, match=r"CERTIFICATE_VERIFY_FAILED|hostname"):
            await client.post(f"https://other.test:{port}{CHAT}", json=BODY, headers=HEADERS)
    assert state.requests[-1][2]["host"] == f"vendor.test:{port}"
    assert len(state.requests) == 1
