"""Shared helpers for the end-to-end tests.

The tests drive the real programs built by make (in $SWAPD_BUILD/bin) and
real peers from Debian (mbpoll, qemu-system-arm, zbarimg, mosquitto). They
never sleep to wait for something: they wait on the thing itself (a line on
a pipe, a datagram, a socket) with a timeout.
"""
import os
import select
import subprocess
import time

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD = os.path.join(ROOT, os.environ.get("SWAPD_BUILD", "build"))
FIRMWARE_DIR = os.path.join(ROOT, os.environ.get("SWAPD_FIRMWARE_DIR", "build/fw"))


def bin_path(name):
    """Path of a program built by make; fails the test if it is missing."""
    p = os.path.join(BUILD, "bin", name)
    if not os.access(p, os.X_OK):
        pytest.fail(f"{p} not built (run make first)")
    return p


def read_line(stream, timeout):
    """One line from a pipe of a child process, or None after timeout seconds.

    Reads byte by byte from the raw fd so that select() never misses data
    hidden in a Python buffer."""
    fd = stream.fileno()
    deadline = time.monotonic() + timeout
    buf = b""
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return None
        r, _, _ = select.select([fd], [], [], left)
        if not r:
            return None
        c = os.read(fd, 1)
        if not c:
            return buf.decode(errors="replace") if buf else None
        if c == b"\n":
            return buf.decode(errors="replace")
        buf += c


def wait_line(stream, pred, timeout, seen=None):
    """Read lines until pred(line) is true; returns that line or None."""
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        line = read_line(stream, max(left, 0))
        if line is None:
            return None
        if seen is not None:
            seen.append(line)
        if pred(line):
            return line


def stop(proc, timeout=5):
    """SIGTERM a child and reap it; returns its exit status."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    return proc.returncode


# The longest tests (--durations prints them), started first: pytest-xdist
# hands tests out in order, and a three-minute test begun last would leave
# the other process idle while it runs.
SLOW_FIRST = ("test_swap_crash.py", "test_demo.py", "::test_bus_errors", "::test_temperature_rise",
              "::test_outbox_full_and_broker_unreachable")


def pytest_collection_modifyitems(config, items):
    def rank(item):
        return next((k for k, s in enumerate(SLOW_FIRST) if s in item.nodeid), len(SLOW_FIRST))
    items.sort(key=rank)
