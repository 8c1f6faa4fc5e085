"""Helpers shared by the rack-sim and firmware tests (no tests of its own;
the name keeps it among the files of the firmware/simulator issue).

A raw Modbus RTU master for what mbpoll cannot send (bad CRCs, broadcasts,
byte-exact comparisons), a rack-sim fixture factory, a control-socket
client and an mbpoll runner."""
import json
import os
import select
import socket
import subprocess
import termios
import time
import tty

import pytest

import conftest

MBPOLL = "/usr/bin/mbpoll"


def crc16(data):
    """CRC-16/MODBUS, computed here independently of the firmware's."""
    crc = 0xFFFF
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ 0xA001 if crc & 1 else crc >> 1
    return crc


def frame(*pdu):
    """Bytes of an RTU frame: the given bytes plus their CRC, low byte first."""
    body = bytes(pdu)
    c = crc16(body)
    return body + bytes([c & 0xFF, c >> 8])


def read_req(unit, fc, addr, qty):
    return frame(unit, fc, addr >> 8, addr & 0xFF, qty >> 8, qty & 0xFF)


def write_req(unit, addr, value):
    return frame(unit, 6, addr >> 8, addr & 0xFF, (value >> 8) & 0xFF, value & 0xFF)


class Port:
    """A serial port (pty) opened raw, as a master would."""

    def __init__(self, path):
        self.fd = os.open(path, os.O_RDWR | os.O_NOCTTY)
        tty.setraw(self.fd)
        termios.tcflush(self.fd, termios.TCIOFLUSH)

    def close(self):
        os.close(self.fd)

    def transact(self, req, timeout=0.5, gap=0.05):
        """Sends req; returns the reply bytes (b"" if none came within
        timeout). The reply ends at `gap` seconds of silence, well above
        t3.5 at any baud rate the tests use."""
        os.write(self.fd, req)
        return self.receive(timeout, gap)

    def receive(self, timeout, gap=0.05):
        buf = b""
        deadline = time.monotonic() + timeout
        while True:
            wait = deadline - time.monotonic() if not buf else gap
            if wait <= 0:
                return buf
            r, _, _ = select.select([self.fd], [], [], wait)
            if not r:
                return buf
            buf += os.read(self.fd, 256)

    def regs(self, unit, fc, addr, qty):
        """Reads registers; fails the test on anything but a good reply."""
        rep = self.transact(read_req(unit, fc, addr, qty))
        assert len(rep) == 5 + 2 * qty, f"reply {rep.hex()}"
        assert crc16(rep[:-2]) == rep[-2] | rep[-1] << 8
        return [rep[3 + 2 * i] << 8 | rep[4 + 2 * i] for i in range(qty)]


class Control:
    """Client of rack-sim's control socket: one JSON object per line."""

    def __init__(self, path):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(5)
        self.sock.connect(path)
        self.buf = b""

    def raw(self, line):
        self.sock.sendall(line.encode() + b"\n")
        while b"\n" not in self.buf:
            chunk = self.sock.recv(65536)
            assert chunk, "rack-sim closed the control socket"
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return json.loads(line)

    def __call__(self, op, **kw):
        return self.raw(json.dumps(dict(op=op, **kw)))

    def ok(self, op, **kw):
        r = self(op, **kw)
        assert r["ok"], r
        return r

    def wait(self, slot, pred, timeout=5):
        """Polls `get` (which does not touch the bus) until pred(reply)."""
        deadline = time.monotonic() + timeout
        while True:
            r = self.ok("get", slot=slot)
            if pred(r):
                return r
            if time.monotonic() > deadline:
                pytest.fail(f"slot {slot} never got there: {r}")
            select.select([], [], [], 0.02)

    def close(self):
        self.sock.close()


class Sim:
    def __init__(self, proc, link, control):
        self.proc, self.link, self.control = proc, link, control


@pytest.fixture
def rack_sim(tmp_path, request):
    """Factory: rack_sim(slots=3, baud=115200, extra=[...]) starts rack-sim,
    waits for its ready line and returns a Sim; every one is stopped at the
    end of the test, also on failure."""
    procs = []

    def start(slots=3, baud=115200, extra=(), control=True):
        n = len(procs)
        link = str(tmp_path / f"bus{n}")
        ctl = str(tmp_path / f"ctl{n}.sock") if control else None
        args = [conftest.bin_path("rack-sim"), "--slots", str(slots), "--link", link,
                "--baud", str(baud)] + (["--control", ctl] if ctl else []) + list(extra)
        p = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        procs.append(p)
        line = conftest.read_line(p.stdout, 5)
        if not (line and line.startswith("rack-sim: ready")):
            conftest.stop(p)
            pytest.fail(f"rack-sim did not start: {line!r} {p.stderr.read().decode()}")
        return Sim(p, link, Control(ctl) if ctl else None)

    def fin():
        # A clean exit on SIGTERM also means no sanitizer report (SAN=1).
        bad = []
        for p in procs:
            rc = conftest.stop(p)
            if rc != 0:
                bad.append((p.args, rc, p.stderr.read().decode(errors="replace")[-2000:]))
            p.stdout.close()
            p.stderr.close()
        assert not bad, bad

    request.addfinalizer(fin)
    return start


def mbpoll(link, *args, baud=115200, unit=1):
    """Runs Debian's mbpoll once against link; returns (output, {ref: value}).
    args are mbpoll's own options (-t, -r, -c, values...)."""
    cmd = [MBPOLL, "-m", "rtu", "-b", str(baud), "-P", "none", "-a", str(unit), "-0", "-1",
           "-o", "0.5", link] + [str(a) for a in args]
    out = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=10,
                         text=True).stdout
    vals = {}
    for line in out.splitlines():
        if line.startswith("[") and "]:" in line:
            ref, v = line[1:].split("]:", 1)
            vals[int(ref)] = int(v.split()[0])
    return out, vals
