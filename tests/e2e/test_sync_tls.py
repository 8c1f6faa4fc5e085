"""End to end: fleet sync over TLS (issue 11). The test makes its own CA, a
broker certificate for 127.0.0.1 and a client certificate with openssl, and
starts mosquitto with a TLS listener that requires the client certificate
(and a plain one on loopback for the fleet's subscriber). swapd with
`sync.cafile`, `certfile` and `keyfile` publishes its status, birth and
events there. With a CA that did not sign the broker, the connection is
refused: health `sync` is degraded with the reason, the log says it once,
and swapd keeps running."""
import getpass
import subprocess

import pytest

from swapd_fixture import Daemon, wait_until
from test_sync import Broker, Sub, free_port


def openssl(*args, cwd):
    subprocess.run(["openssl", *args], cwd=cwd, check=True, stdin=subprocess.DEVNULL,
                   stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def make_ca(d, name):
    openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
            "-keyout", f"{name}.key", "-out", f"{name}.pem", "-days", "2", "-subj",
            f"/CN={name}", cwd=d)


def make_cert(d, ca, name, ext):
    """A certificate for name signed by ca, with the extension line ext."""
    (d / f"{name}.ext").write_text(ext + "\n")
    openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
            "-keyout", f"{name}.key", "-out", f"{name}.csr", "-subj", f"/CN={name}", cwd=d)
    openssl("x509", "-req", "-in", f"{name}.csr", "-CA", f"{ca}.pem", "-CAkey", f"{ca}.key",
            "-CAcreateserial", "-out", f"{name}.pem", "-days", "2", "-extfile", f"{name}.ext",
            cwd=d)
    (d / f"{name}.key").chmod(0o600)


@pytest.fixture
def pki(tmp_path):
    d = tmp_path / "pki"
    d.mkdir()
    make_ca(d, "ca")
    make_ca(d, "other-ca")  # signs nothing the broker has
    make_cert(d, "ca", "broker", "subjectAltName=IP:127.0.0.1")
    make_cert(d, "ca", "station", "extendedKeyUsage=clientAuth")
    return d


class TlsBroker(Broker):
    """Broker with a TLS listener (client certificate required) at
    tls_port, and the plain one at port for the subscriber."""

    def __init__(self, tmp, pki):
        super().__init__(tmp)
        self.tls_port = free_port()
        self.conf.write_text(
            f"per_listener_settings false\nallow_anonymous true\nuser {getpass.getuser()}\n"
            f"listener {self.port} 127.0.0.1\n"
            f"listener {self.tls_port} 127.0.0.1\ncafile {pki}/ca.pem\n"
            f"certfile {pki}/broker.pem\nkeyfile {pki}/broker.key\n"
            f"require_certificate true\n")


@pytest.fixture
def broker(tmp_path, pki):
    b = TlsBroker(tmp_path, pki).start()
    yield b
    b.stop()


def tls_daemon(tmp_path, broker, pki, cafile):
    d = Daemon(tmp_path)
    cfg = d.default_config()
    cfg["sync"] = {"host": "127.0.0.1", "port": broker.tls_port, "cafile": str(pki / cafile),
                   "certfile": str(pki / "station.pem"), "keyfile": str(pki / "station.key"),
                   "backoff_min_ms": 100, "backoff_max_ms": 500, "connect_timeout_s": 2}
    d.write_config(cfg)
    return d


def sync_health(d):
    return {s["name"]: s for s in d.request("status")["result"]["subsystems"]}["sync"]


def test_tls_with_the_stations_ca_and_client_certificate(tmp_path, broker, pki):
    sub = Sub(broker.port)
    d = tls_daemon(tmp_path, broker, pki, "ca.pem")
    try:
        d.start()
        boot = d.request("status")["result"]["boot"]
        sub.wait(lambda: any(e["seq"] == 1 for e in sub.of("event")), 10, "station.started over TLS")
        assert sub.of("status")[-1]["online"] and sub.of("status")[-1]["boot"] == boot
        assert sub.of("birth")[-1]["boot"] == boot
        r = d.request("sync")["result"]
        assert r["state"] == "connected" and r["tls"] is True
        assert sync_health(d)["state"] == "ok"
        assert d.stop()[0] == 0
        sub.wait(lambda: sub.of("status")[-1] == {"online": False, "boot": boot}, 10,
                 "the offline status over TLS")
    finally:
        d.close()
        sub.close()


def test_a_ca_that_did_not_sign_the_broker_is_refused(tmp_path, broker, pki):
    sub = Sub(broker.port)
    d = tls_daemon(tmp_path, broker, pki, "other-ca.pem")
    try:
        d.start()
        line = d.wait_log(lambda l: "sync: cannot connect" in l, 10)
        assert line and "certificate verify failed" in line, line
        wait_until(lambda: sync_health(d)["state"] == "degraded", 5, "sync degraded")
        assert "certificate verify failed" in sync_health(d)["detail"]
        # it keeps trying, once a while, and logs the same failure once
        wait_until(lambda: d.request("sync")["result"]["state"] in ("waiting", "connecting")
                   and d.request("sync")["result"]["last_error"], 5, "a retry")
        assert d.wait_log(lambda l: "sync: cannot connect" in l, 1.5) is None
        r = d.request("sync")["result"]
        assert r["outbox"] >= 1 and r["acknowledged"] == 0
        assert not sub.of("status") and not sub.of("event")
        assert d.proc.poll() is None and d.stop()[0] == 0
    finally:
        d.close()
        sub.close()
