"""A real Mosquitto broker for tests: its own config, a free port, and stop/start for outages.

Like httpx's ``MockTransport``, this ships with the library so users can test their own code
against the runtime, but unlike a mock it runs the real broker binary (Debian: ``mosquitto``)::

    with MosquittoBroker(tmp_path, users={"pi": "secret"}, acl=["user pi", "topic readwrite edge_sdk/#"]) as broker:
        config = MQTTConfig(device_id="pi", port=broker.port, username="pi", password="secret")

TLS material (a CA and a server certificate for 127.0.0.1/localhost) is generated at start with
the ``openssl`` command-line tool, so no Python crypto package is needed.
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from typing import Self

__all__ = ["MosquittoBroker", "free_port", "make_ca", "make_certificate"]

_DEFAULT_EXECUTABLES = ("mosquitto", "/usr/sbin/mosquitto")


def free_port() -> int:
    """A TCP port that was free a moment ago on 127.0.0.1."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _openssl(*args: str) -> None:
    result = subprocess.run(["openssl", *args], capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"openssl {' '.join(args[:2])} failed: {result.stderr.strip()}")


def make_ca(directory: Path, name: str = "edge_sdk test CA") -> tuple[Path, Path]:
    """A self-signed CA; returns ``(ca_cert, ca_key)``."""
    directory.mkdir(parents=True, exist_ok=True)
    cert, key = directory / "ca.crt", directory / "ca.key"
    _openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "2", "-subj", f"/CN={name}",
             "-keyout", str(key), "-out", str(cert))
    return cert, key


def make_certificate(directory: Path, name: str, ca: tuple[Path, Path], *, server: bool) -> tuple[Path, Path]:
    """A certificate signed by ``ca``; a server one is valid for 127.0.0.1 and localhost."""
    key, csr, cert = directory / f"{name}.key", directory / f"{name}.csr", directory / f"{name}.crt"
    ext = directory / f"{name}.ext"
    usage = "serverAuth" if server else "clientAuth"
    lines = ["basicConstraints=CA:FALSE", f"extendedKeyUsage={usage}"]
    if server:
        lines.append("subjectAltName=IP:127.0.0.1,DNS:localhost")
    ext.write_text("\n".join(lines) + "\n")
    _openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-subj", f"/CN={name}", "-keyout", str(key), "-out", str(csr))
    _openssl("x509", "-req", "-in", str(csr), "-CA", str(ca[0]), "-CAkey", str(ca[1]), "-CAcreateserial",
             "-days", "2", "-extfile", str(ext), "-out", str(cert))
    return cert, key


class MosquittoBroker:
    """One mosquitto process on 127.0.0.1 with the options a test asks for.

    - anonymous by default; ``users`` (name -> password) makes a password file with
      ``mosquitto_passwd`` and turns anonymous access off; ``acl`` lines go to an ACL file;
    - ``tls=True`` serves MQTT over TLS on :attr:`port` with a CA generated in ``workdir``
      (:attr:`ca_file`); ``require_client_cert=True`` also asks clients for a certificate;
    - ``websockets=True`` adds a websockets listener on :attr:`ws_port`;
    - ``persistence=True`` keeps sessions and queued messages across a restart;
    - :meth:`stop` and :meth:`start` keep the ports, to simulate an outage.
    """

    def __init__(
        self,
        workdir: Path | str,
        *,
        users: Mapping[str, str] | None = None,
        acl: Sequence[str] | None = None,
        tls: bool = False,
        require_client_cert: bool = False,
        websockets: bool = False,
        persistence: bool = False,
        port: int | None = None,
        executable: str | None = None,
    ) -> None:
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.users = dict(users or {})
        self.acl = list(acl) if acl is not None else None
        self.tls = tls
        self.require_client_cert = require_client_cert
        self.websockets = websockets
        self.persistence = persistence
        self.host = "127.0.0.1"
        self.port = port or free_port()
        self.ws_port = free_port() if websockets else None
        self.executable = executable or self._find_executable()
        self.log_file = self.workdir / "mosquitto.log"
        self.ca_file: Path | None = None
        self._ca: tuple[Path, Path] | None = None
        self._process: subprocess.Popen[bytes] | None = None
        self._config_file = self._write_config()

    @staticmethod
    def _find_executable() -> str:
        for candidate in _DEFAULT_EXECUTABLES:
            found = shutil.which(candidate)
            if found:
                return found
        raise FileNotFoundError("mosquitto is not installed (Debian/Ubuntu: apt-get install mosquitto)")

    def _write_config(self) -> Path:
        lines = [
            "per_listener_settings false",
            # Persistence keeps subscribers' sessions and queued messages across stop()/start(),
            # as a real deployment would; off by default so each start is clean.
            f"persistence {'true' if self.persistence else 'false'}",
            f"persistence_location {self.workdir}/",
            # Mosquitto's default (1000) would drop messages queued for an offline persistent
            # subscriber while a device replays a long outage.
            "max_queued_messages 1000000",
            # Small packets (PUBACKs, results to subscribers) go out at once instead of waiting
            # for Nagle's algorithm: latency measurements should see the runtime, not TCP.
            "set_tcp_nodelay true",
            f"log_dest file {self.log_file}",
            "log_type error",
            "log_type warning",
            "log_type notice",
            "log_type information",
            "connection_messages true",
            # As root, mosquitto would switch to the 'mosquitto' user, which cannot read a test's
            # private temporary directory; stay the user who runs the test.
            f"user {pwd.getpwuid(os.geteuid()).pw_name}",
            f"allow_anonymous {'false' if self.users else 'true'}",
        ]
        if self.users:
            password_file = self.workdir / "passwords"
            password_file.write_text("")
            password_file.chmod(0o600)
            for name, password in self.users.items():
                subprocess.run(["mosquitto_passwd", "-b", str(password_file), name, password],
                               check=True, capture_output=True)
            lines.append(f"password_file {password_file}")
        if self.acl is not None:
            acl_file = self.workdir / "acl"
            acl_file.write_text("\n".join(self.acl) + "\n")
            acl_file.chmod(0o600)
            lines.append(f"acl_file {acl_file}")
        lines.append(f"listener {self.port} {self.host}")
        if self.tls:
            self._ca = make_ca(self.workdir / "tls")
            self.ca_file = self._ca[0]
            cert, key = make_certificate(self.workdir / "tls", "server", self._ca, server=True)
            lines += [f"cafile {self.ca_file}", f"certfile {cert}", f"keyfile {key}"]
            if self.require_client_cert:
                lines.append("require_certificate true")
        if self.ws_port is not None:
            lines += [f"listener {self.ws_port} {self.host}", "protocol websockets"]
        config_file = self.workdir / "mosquitto.conf"
        config_file.write_text("\n".join(lines) + "\n")
        return config_file

    def client_certificate(self, name: str) -> tuple[Path, Path]:
        """A client certificate and key signed by this broker's CA (needs ``tls=True``)."""
        if self._ca is None:
            raise RuntimeError("client_certificate() needs a broker made with tls=True")
        return make_certificate(self.workdir / "tls", name, self._ca, server=False)

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def start(self, timeout_s: float = 10.0) -> Self:
        """Start (or restart, on the same ports) and wait until the listeners accept connections."""
        if self.running:
            return self
        log = open(self.log_file, "ab")  # noqa: SIM115 - handed to the child, closed right after
        try:
            self._process = subprocess.Popen([self.executable, "-c", str(self._config_file)],
                                             stdout=log, stderr=subprocess.STDOUT)
        finally:
            log.close()
        deadline = time.monotonic() + timeout_s
        ports = [self.port] + ([self.ws_port] if self.ws_port else [])
        while True:
            if self._process.poll() is not None:
                raise RuntimeError(
                    f"mosquitto exited with code {self._process.returncode} at start. Log:\n{self.log_text()}"
                )
            if all(_accepts(self.host, port) for port in ports):
                return self
            if time.monotonic() > deadline:
                self.stop()
                raise TimeoutError(f"mosquitto did not listen on {ports} within {timeout_s} s. Log:\n{self.log_text()}")
            time.sleep(0.02)

    def stop(self, timeout_s: float = 5.0) -> None:
        """Terminate the broker (SIGTERM, then SIGKILL); connected clients see the connection drop."""
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(timeout_s)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def log_text(self) -> str:
        return self.log_file.read_text(errors="replace") if self.log_file.exists() else ""

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def _accepts(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.2):
            return True
    except OSError:
        return False
