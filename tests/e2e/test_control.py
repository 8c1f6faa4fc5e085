"""End to end: the control socket's safety rules against the real swapd:
what a reply may echo of a request, idle clients, room for admins, and
clients that half-close their connection."""
import json

import pytest

from swapd_fixture import Daemon, read_reply


@pytest.fixture
def daemon(tmp_path):
    d = Daemon(tmp_path)
    yield d
    d.close()


def raw_reply(s, line):
    """Sends one raw request line; returns the reply's bytes and the reply."""
    s.sendall(line + b"\n")
    buf = b""
    while not buf.endswith(b"\n"):
        chunk = s.recv(65536)
        assert chunk, f"connection closed after {buf!r}"
        buf += chunk
    return buf, json.loads(buf)


def test_command_name_with_nul_is_not_that_command(daemon):
    daemon.start()
    s = daemon.connect()
    _, reply = raw_reply(s, b'{"cmd":"status\\u0000junk","id":7}')
    assert reply["ok"] is False and reply["error"] == "unknown_command", reply
    assert reply["id"] == 7
    assert "\x00" not in reply["message"] and "status?junk" in reply["message"]
    s.close()


@pytest.mark.parametrize("name", [b"\xff\xfe", b"st\xc3", b"\xc0\xaf", b"\xed\xa0\x80",
                                  b"a\\u001b[31mb", b"\xc2\x9b31m", b"a\\u007fb"])
def test_unknown_command_never_echoes_invalid_utf8_or_controls(daemon, name):
    daemon.start()
    s = daemon.connect()
    raw, reply = raw_reply(s, b'{"cmd":"' + name + b'"}')
    assert reply["error"] == "unknown_command", reply
    raw.decode("utf-8")  # strict: the whole reply line is valid UTF-8
    msg = reply["message"]
    assert all(c >= " " and not "\x7f" <= c <= "\x9f" for c in msg), msg
    s.close()


def test_unknown_command_echo_is_capped(daemon):
    daemon.start()
    s = daemon.connect()
    # a valid multi-byte name longer than the cap: cut on a character
    _, reply = raw_reply(s, json.dumps({"cmd": "é" * 30000}, ensure_ascii=False).encode())
    assert reply["error"] == "unknown_command"
    assert len(reply["message"].encode()) < 100
    assert "é" * 32 in reply["message"]
    s.close()
