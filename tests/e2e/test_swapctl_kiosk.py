"""`swapctl kiosk` under tmux (issue 12): the kiosk's view in a terminal.

swapctl runs in a detached tmux session of a fixed size against a whole
station (tests/e2e/station.py); the test reads the screen with capture-pane
(polled with a timeout), makes the view change, takes swapd away and back,
and quits with q, checking the terminal's settings are as before.

The strings expected on screen are asked of swapd itself (kiosk-view), so
the test follows the catalogue."""
import os
import socket
import subprocess
import time

from conftest import ROOT, bin_path
from station import station  # noqa: F401 (the fixture)
from swapd_fixture import wait_until
from test_swap import wait_read

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
    assert r["ok"], r
    return r["result"]


def read_station(station, slots=4):
    """A station whose batteries swapd has read, so the labels are settled."""
    st = station(slots=slots, batteries={n: b for n, b in BATTERIES.items() if n <= slots},
                 config=kiosk_config())
    wait_read(st, {n: int(b["battery"], 16) for n, b in BATTERIES.items() if n <= slots})
    return st


def test_swapctl_kiosk_under_tmux(station, tmp_path):
    st = read_station(station)
    d = str(tmp_path)
    cmd = (f"stty -g > {d}/before; {bin_path('swapctl')} -s {st.daemon.sock} kiosk; "
           f"echo $? > {d}/rc; stty -g > {d}/a; mv {d}/a {d}/after")
    tmux = Tmux(tmp_path, f"sh -c '{cmd}'")
    try:
        # the slot states at a glance, each in the catalogue's words
        tmux.wait(lambda s: all(t["label"] in s for t in view_of(st)["slots"]),
                  what="every slot's label")
        # a rejected scan: its plain words appear without a key pressed
        st.scan(st.token("S", subject="u-late", now=int(time.time()) - 7200, ttl=600))
        wait_until(lambda: view_of(st)["scan"], 10, "the scan in the view")
        text = view_of(st)["scan"]["text"]
        assert text and "expired" != text, "the reason code, not plain words"
        tmux.wait(lambda s: text in s, what="the scan's text")
        # swapd gone: said so, and kept trying; back: the view again
        st.kill9()
        tmux.wait(lambda s: "swapd not answering, retrying" in s, what="the daemon gone")
        st.restart()
        tmux.wait(lambda s: "swapd not answering" not in s, timeout=20, what="the view again")
        tmux.run("send-keys", "-t", "k", "q")
        wait_until(lambda: os.path.exists(f"{d}/after"), 10, "swapctl's exit")
        screen = tmux.screen()
        # the alternate screen is left: the frame is gone with it
        assert "swapd not answering" not in screen and text not in screen
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
        title = view_of(st)["text"]["title"]
        tmux.wait(lambda s: title in s, what="a first frame")
        tmux.run("send-keys", "-t", "k", "C-c")
        wait_until(lambda: os.path.exists(f"{d}/after"), 10, "swapctl's exit")
        assert title not in tmux.screen(), "the frame stayed on screen"
        with open(f"{d}/rc") as f:
            assert f.read().strip() == "0"
        with open(f"{d}/before") as b, open(f"{d}/after") as a:
            assert b.read() == a.read(), "the terminal's settings were not restored"
    finally:
        tmux.close()


def test_swapctl_kiosk_once(station, tmp_path):
    st = read_station(station, slots=2)
    r = subprocess.run([bin_path("swapctl"), "-s", st.daemon.sock, "kiosk", "--once"],
                       capture_output=True, text=True, timeout=10)
    assert r.returncode == 0, r.stderr
    assert "\033" not in r.stdout, "no escapes into a pipe"
    for t in view_of(st)["slots"]:
        assert t["label"] in r.stdout
    st.kill9()
    r = subprocess.run([bin_path("swapctl"), "-s", st.daemon.sock, "kiosk", "--once"],
                       capture_output=True, text=True, timeout=10)
    assert r.returncode == 69 and "swapd not answering" in r.stderr
