"""`swapctl kiosk` under tmux (issue 12): the kiosk's view in a terminal.

swapctl runs in a detached tmux session of a fixed size against a whole
station (tests/e2e/station.py); the test reads the screen with capture-pane
(polled with a timeout), makes the view change, takes swapd away and back,
and quits with q, checking the terminal's settings are as before.

The strings expected on screen are asked of swapd itself (kiosk-view), so
the test follows the catalogue. Assertions that need the real view
(daemon/kiosk.c) are in `if VIEW:` blocks: with the stand-in, kiosk-view is
not a command and the screen shows swapd's error instead."""
import os
import socket
import subprocess
import time

from conftest import ROOT, bin_path
from station import station  # noqa: F401 (the fixture)
from swapd_fixture import wait_until

BATTERIES = {1: dict(battery="0xA1", soc=97, soh=97), 2: dict(battery="0xA2", soc=60, soh=95)}


def kiosk_config():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return {"kiosk": {"listen": "127.0.0.1", "port": port,
                      "assets": os.path.join(ROOT, "daemon", "kiosk")}}


class Tmux:
    """A tmux server of our own (its socket in tmp) with one session."""

    def __init__(self, tmp, command, width=100, height=40):
        self.sock = os.path.join(str(tmp), "tmux.sock")
        self.run("new-session", "-d", "-s", "k", "-x", str(width), "-y", str(height), command)
        self.run("set-option", "-t", "k", "remain-on-exit", "on")

    def run(self, *args):
        return subprocess.run(["tmux", "-S", self.sock, *args], capture_output=True, text=True,
                              timeout=10, check=True).stdout

    def screen(self):
        return self.run("capture-pane", "-p", "-t", "k")

    def wait(self, pred, timeout=10, what="the screen"):
        last = [""]

        def look():
            last[0] = self.screen()
            return pred(last[0])
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if look():
                return last[0]
            time.sleep(0.05)
        raise AssertionError(f"{what} not on screen within {timeout}s:\n{last[0]}")

    def close(self):
        subprocess.run(["tmux", "-S", self.sock, "kill-server"], capture_output=True, timeout=10)


def view_of(st):
    r = st.request("kiosk-view")
    return r["result"] if r.get("ok") else None


def test_swapctl_kiosk_under_tmux(station, tmp_path):
    st = station(slots=4, batteries=BATTERIES, config=kiosk_config())
    view = view_of(st)
    VIEW = view is not None  # False while kiosk.c is the stand-in
    d = str(tmp_path)
    cmd = (f"stty -g > {d}/before; {bin_path('swapctl')} -s {st.daemon.sock} kiosk; "
           f"echo $? > {d}/rc; stty -g > {d}/a; mv {d}/a {d}/after")
    tmux = Tmux(tmp_path, f"sh -c '{cmd}'")
    try:
        if VIEW:
            # the slot states at a glance, each in the catalogue's words
            tmux.wait(lambda s: all(t["label"] in s for t in view["slots"]),
                      what="every slot's label")
            # a rejected scan: its plain words appear without a key pressed
            st.scan(st.token("S", subject="u-late", now=int(time.time()) - 7200, ttl=600))
            wait_until(lambda: (view_of(st) or {}).get("scan"), 10, "the scan in the view")
            text = view_of(st)["scan"]["text"]
            assert text and "expired" != text, "the reason code, not plain words"
            tmux.wait(lambda s: text in s, what="the scan's text")
        else:
            tmux.wait(lambda s: "unknown_command" in s, what="swapd's answer to kiosk-view")
        # swapd gone: said so, and kept trying; back: the view again
        st.kill9()
        tmux.wait(lambda s: "swapd not answering, retrying" in s, what="the daemon gone")
        st.restart()
        tmux.wait(lambda s: "swapd not answering" not in s, timeout=20, what="the view again")
        tmux.run("send-keys", "-t", "k", "q")
        wait_until(lambda: os.path.exists(f"{d}/after"), 10, "swapctl's exit")
        screen = tmux.screen()
        # the alternate screen is left: the frame is gone with it
        assert "swapd not answering" not in screen and "unknown_command" not in screen
        with open(f"{d}/rc") as f:
            assert f.read().strip() == "0"
        with open(f"{d}/before") as b, open(f"{d}/after") as a:
            assert b.read() == a.read(), "the terminal's settings were not restored"
    finally:
        tmux.close()


def test_swapctl_kiosk_ctrl_c(station, tmp_path):
    st = station(slots=2, config=kiosk_config())
    d = str(tmp_path)
    # the shell outlives the Ctrl-C (trap) to say how swapctl ended
    cmd = (f"trap : INT; stty -g > {d}/before; {bin_path('swapctl')} -s {st.daemon.sock} "
           f"kiosk; echo $? > {d}/rc; stty -g > {d}/a; mv {d}/a {d}/after")
    tmux = Tmux(tmp_path, f"sh -c '{cmd}'")
    try:
        tmux.wait(lambda s: "unknown_command" in s or "v" in s, what="a first frame")
        tmux.run("send-keys", "-t", "k", "C-c")
        wait_until(lambda: os.path.exists(f"{d}/after"), 10, "swapctl's exit")
        assert "unknown_command" not in tmux.screen(), "the frame stayed on screen"
        with open(f"{d}/rc") as f:
            assert f.read().strip() == "0"
        with open(f"{d}/before") as b, open(f"{d}/after") as a:
            assert b.read() == a.read(), "the terminal's settings were not restored"
    finally:
        tmux.close()


def test_swapctl_kiosk_once(station, tmp_path):
    st = station(slots=2, batteries=BATTERIES, config=kiosk_config())
    r = subprocess.run([bin_path("swapctl"), "-s", st.daemon.sock, "kiosk", "--once"],
                       capture_output=True, text=True, timeout=10)
    view = view_of(st)
    if view is not None:
        assert r.returncode == 0, r.stderr
        assert "\033" not in r.stdout, "no escapes into a pipe"
        for t in view["slots"]:
            assert t["label"] in r.stdout
    else:
        assert r.returncode == 1 and "unknown_command" in r.stderr
    st.kill9()
    r = subprocess.run([bin_path("swapctl"), "-s", st.daemon.sock, "kiosk", "--once"],
                       capture_output=True, text=True, timeout=10)
    assert r.returncode == 69 and "swapd not answering" in r.stderr
