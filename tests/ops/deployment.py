"""A deployment as an operator builds it, on loopback: `bookingcal serve` processes (the
installed console script) behind nginx, which runs the shipped contrib/nginx/bookingcal.conf
with its placeholders filled in, TLS with a self-signed certificate made here."""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import re
import shutil
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable
from urllib.parse import urlsplit

import requests
from sqlalchemy import select
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from fakes import FakeGoogle
from processes import BOOKINGCAL, Running, bookingcal, clean_environ, free_port, wait_healthy
from server.config import load
from server.db.models import Calendar
from server.google import oauth, settings
from server.runtime import build_runtime
from support import HOST_KEY, Api

REPO = Path(__file__).resolve().parents[2]
SHIPPED_NGINX = REPO / "contrib" / "nginx" / "bookingcal.conf"
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
PUBLIC_HOST = "localhost"  # in public_url; the tests reach nginx as 127.0.0.1 too
START_SECONDS = 60


def make_certificate(folder: Path) -> tuple[Path, Path]:
    """A self-signed certificate for localhost and 127.0.0.1: (certificate, key) files."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, PUBLIC_HOST)])
    now = dt.datetime.now(dt.timezone.utc)
    certificate = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name)
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([
            x509.DNSName(PUBLIC_HOST), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256()))
    cert_file, key_file = folder / "cert.pem", folder / "key.pem"
    cert_file.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    key_file.chmod(0o600)
    return cert_file, key_file


def _replace(text: str, old: str, new: str) -> str:
    """Replace a placeholder that must be in the shipped file (so a changed file fails here
    instead of silently keeping a value that does not work)."""
    assert old in text, f"placeholder {old!r} is missing from {SHIPPED_NGINX}"
    return text.replace(old, new)


def render_nginx(*, https_port: int, http_port: int, upstreams: list[int], cert: Path,
                 key: Path, logs: Path) -> str:
    """The shipped configuration with its placeholders filled in for this machine."""
    text = SHIPPED_NGINX.read_text(encoding="utf-8")
    servers = "\n".join(f"    server 127.0.0.1:{port} max_fails=3 fail_timeout=10s;"
                        for port in upstreams)
    text = _replace(text, "    server 127.0.0.1:5232 max_fails=3 fail_timeout=10s;", servers)
    text = _replace(text, "listen 80;", f"listen 127.0.0.1:{http_port};")
    text = _replace(text, "listen 443 ssl;", f"listen 127.0.0.1:{https_port} ssl;")
    text = _replace(text, "server_name cal.example.com;", f"server_name {PUBLIC_HOST};")
    text = _replace(text, "/etc/ssl/certs/cal.example.com.pem", str(cert))
    text = _replace(text, "/etc/ssl/private/cal.example.com.key", str(key))
    text = _replace(text, "/var/log/nginx/bookingcal.access.log", str(logs / "access.log"))
    text = _replace(text, "/var/log/nginx/bookingcal.error.log", str(logs / "error.log"))
    directives = "\n".join(line.split("#", 1)[0] for line in text.splitlines())
    leftover = re.findall(r"cal\.example\.com|/var/log/|/etc/ssl/|127\.0\.0\.1:5232",
                          directives)
    assert not leftover, f"placeholders left in the rendered configuration: {leftover}"
    return text


class Nginx:
    """nginx as a real process (`-p prefix -c conf`), pid, logs and temp files in `prefix`."""

    def __init__(self, prefix: Path, upstreams: list[int], cert: Path, key: Path,
                 https_port: int) -> None:
        self.prefix = prefix
        self.https_port, self.http_port = https_port, free_port()
        for folder in ("logs", "temp"):
            (prefix / folder).mkdir(parents=True, exist_ok=True)
        (prefix / "bookingcal.conf").write_text(render_nginx(
            https_port=self.https_port, http_port=self.http_port, upstreams=upstreams,
            cert=cert, key=key, logs=prefix / "logs"), encoding="utf-8")
        temp = prefix / "temp"
        # As root, nginx's workers would switch to `nobody`, who cannot enter pytest's folders.
        user = "user root;\n" if os.geteuid() == 0 else ""
        (prefix / "nginx.conf").write_text(
            f"{user}worker_processes 1;\npid {prefix}/nginx.pid;\n"
            f"error_log {prefix}/logs/main-error.log warn;\n"
            "events { worker_connections 512; }\n"
            "http {\n"
            f"  client_body_temp_path {temp}/body;\n  proxy_temp_path {temp}/proxy;\n"
            f"  fastcgi_temp_path {temp}/fastcgi;\n  uwsgi_temp_path {temp}/uwsgi;\n"
            f"  scgi_temp_path {temp}/scgi;\n"
            "  access_log off;\n"
            f"  include {prefix}/bookingcal.conf;\n"
            "}\n", encoding="utf-8")
        check = subprocess.run([NGINX, "-p", str(prefix), "-c", str(prefix / "nginx.conf"), "-t"],
                               capture_output=True, text=True, timeout=30, check=False)
        assert check.returncode == 0, check.stderr
        self.running = Running([NGINX, "-p", str(prefix), "-c", str(prefix / "nginx.conf"),
                                "-g", "daemon off;"], cwd=prefix, env=clean_environ())

    @property
    def access_log(self) -> Path:
        return self.prefix / "logs" / "access.log"

    def logs(self) -> str:
        """Everything nginx wrote: access and error logs, and its own output."""
        parts = [self.running.output.text]
        for path in sorted((self.prefix / "logs").iterdir()):
            parts.append(path.read_text(encoding="utf-8", errors="replace"))
        return "\n".join(parts)

    def wait_ready(self, cert: Path) -> None:
        wait_healthy(f"https://127.0.0.1:{self.https_port}", self.running, START_SECONDS,
                     verify=str(cert))

    def stop(self) -> None:
        self.running.stop()


def write_config(folder: Path, *, public_url: str, database_url: str = "",
                 extra: str = "", direct_url: str = "") -> Path:
    """A bookingcal.toml for processes behind nginx on loopback (`direct_url`: `database_url`
    is a transaction pooler in front of that PostgreSQL)."""
    path = folder / "bookingcal.toml"
    path.write_text(
        'data_dir = "data"\n'
        f'public_url = "{public_url}"\n'
        '\n[server]\nhost = "127.0.0.1"\nthreads = 4\n'
        'trusted_proxies = ["127.0.0.1"]\n'
        f'\n[database]\nurl = "{database_url}"\ndirect_url = "{direct_url}"\n' + extra,
        encoding="utf-8")
    return path


@dataclass
class Deployment:
    """Server processes behind nginx; `url` is nginx's https address (as 127.0.0.1)."""

    folder: Path
    config: Path
    cert: Path
    public_url: str
    nginx: Nginx
    servers: dict[int, Running] = field(default_factory=dict)
    extra_processes: list[Running] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.nginx.https_port}"

    def direct(self, port: int) -> str:
        """A server process's own plain-HTTP address, bypassing nginx (its root; the app also
        serves below public_url's sub-path there)."""
        return f"http://127.0.0.1:{port}"

    def api(self) -> Api:
        """The JSON API through nginx, with the host key."""
        api = Api(f"{self.url}{urlsplit(self.public_url).path.rstrip('/')}")
        api.session = session_for(self)
        api.session.headers["Authorization"] = f"Bearer {HOST_KEY}"
        return api

    def app_logs(self) -> str:
        return "\n".join(r.output.text for r in [*self.servers.values(), *self.extra_processes])

    def start_process(self, *args: str) -> Running:
        """Another `bookingcal` process with this deployment's configuration (e.g. bridge)."""
        running = Running([str(BOOKINGCAL), "--config", str(self.config), *args],
                          cwd=self.folder, env=environ())
        self.extra_processes.append(running)
        return running

    def stop_servers(self) -> None:
        for running in self.servers.values():
            running.stop()

    def start_servers(self) -> None:
        """Start the server processes again (after stop_servers), on the same ports."""
        for port, old in list(self.servers.items()):
            assert old.failed() is not None, "stop the servers first"
            self.extra_processes.append(old)  # its output still counts as the app's logs
            self.servers[port] = _serve(self.config, port)
        for port, running in self.servers.items():
            wait_healthy(self.direct(port), running, START_SECONDS)

    def connect_google(self, fake: FakeGoogle, businesses: dict[int, str | None]) -> None:
        """Connect each business (to the fake user given, None for the fake's default user)
        with its first calendar writing to "primary". A real admin gives consent in a browser;
        here the tokens come straight from the fake, through the domain code the OAuth callback
        uses."""
        runtime = build_runtime(load(self.config, environ=environ()))
        now = dt.datetime.now(dt.timezone.utc)
        try:
            with runtime.db.write() as session:
                for business, user in businesses.items():
                    if user is not None:
                        fake.add_user(user)
                    calendar = session.execute(select(Calendar.id).where(
                        Calendar.business_id == business).order_by(Calendar.id)).scalars().first()
                    assert calendar is not None
                    oauth.connect(session, runtime.keyring, business,
                                  fake.issue_tokens(user=user), now)
                    settings.update_settings(session, business, now=now, calendars=[
                        settings.CalendarChoice(calendar, "primary")])
        finally:
            runtime.db.dispose()

    def stop(self) -> None:
        for running in [self.nginx.running, *self.servers.values(), *self.extra_processes]:
            running.stop()


def _serve(config: Path, port: int) -> Running:
    return Running([str(BOOKINGCAL), "--config", str(config), "serve", "--port", str(port)],
                   cwd=config.parent, env=environ())


def environ() -> dict[str, str]:
    return clean_environ(BOOKINGCAL_HOST_KEY=HOST_KEY)


def start_deployment(folder: Path, *, processes: int = 1, database_url: str = "",
                     sub_path: str = "/calendar/", extra: str = "",
                     direct_url: str = "") -> Deployment:
    """Migrate, then start `processes` servers and nginx in front of them; wait until
    /healthz answers through nginx. The caller stops it (`Deployment.stop`)."""
    cert, key = make_certificate(folder)
    ports = [free_port() for _ in range(processes)]
    nginx_prefix = folder / "nginx"
    nginx: Nginx | None = None
    # nginx's port is in public_url, which the servers need when they start.
    https_port = free_port()
    public_url = f"https://{PUBLIC_HOST}:{https_port}{sub_path}"
    config = write_config(folder, public_url=public_url, database_url=database_url, extra=extra,
                          direct_url=direct_url)
    bookingcal(config, "db", "upgrade", env=environ())  # also writes the key files, once
    deployment: Deployment | None = None
    servers: dict[int, Running] = {}
    try:
        for port in ports:
            servers[port] = _serve(config, port)
        for port, running in servers.items():
            wait_healthy(f"http://127.0.0.1:{port}", running, START_SECONDS)
        nginx = Nginx(nginx_prefix, ports, cert, key, https_port)
        nginx.wait_ready(cert)
        deployment = Deployment(folder, config, cert, public_url, nginx, servers)
        return deployment
    finally:
        if deployment is None:
            for running in servers.values():
                running.stop()
            if nginx is not None:
                nginx.stop()


def wait_until(check: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.1)  # poll interval, bounded by the deadline
    raise AssertionError(f"{what}: not within {timeout}s")


def session_for(deployment: Deployment) -> requests.Session:
    """A requests session trusting the deployment's certificate (and nothing from the
    environment, where REQUESTS_CA_BUNDLE would override it)."""
    session = requests.Session()
    session.trust_env = False
    session.verify = str(deployment.cert)
    return session
