"""The kiosk page (daemon/kiosk/) on its own, against the sample view.

A small Python server plays web.h's routes with tests/e2e/kiosk_sample_view.json
(GET /, the two assets, /api/view, /api/events with one "view" event), under
the same Content-Security-Policy swapd sends, so the page is checked without
swapd: headless Chromium renders it, --dump-dom shows what a rider sees, and
screenshots at 800x480 and 1080x1920 land in build/kiosk/ for a person to
look at. The page served by the real swapd is test_kiosk_page.py."""
import http.server
import json
import os
import re
import subprocess
import threading

import pytest

from conftest import BUILD, ROOT

ASSETS = os.path.join(ROOT, "daemon", "kiosk")
SAMPLE = os.path.join(ROOT, "tests", "e2e", "kiosk_sample_view.json")
CSP = "default-src 'self'; img-src 'self' data:"
TYPES = {"/": ("index.html", "text/html; charset=utf-8"),
         "/kiosk.css": ("kiosk.css", "text/css; charset=utf-8"),
         "/kiosk.js": ("kiosk.js", "text/javascript; charset=utf-8")}


def sample():
    with open(SAMPLE, encoding="utf-8") as f:
        return json.load(f)


class Handler(http.server.BaseHTTPRequestHandler):
    view = None

    def log_message(self, *a):
        pass

    def reply(self, body, ctype):
        self.send_response(200)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Security-Policy", CSP)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        data = json.dumps(self.view).encode()
        if self.path in TYPES:
            name, ctype = TYPES[self.path]
            with open(os.path.join(ASSETS, name), "rb") as f:
                self.reply(f.read(), ctype)
        elif self.path == "/api/view":
            self.reply(data, "application/json")
        elif self.path == "/api/events":
            # one view, then the stream ends, as when swapd stops; the page
            # says it is reconnecting (a stream held open would stop
            # Chromium's virtual time, which waits for the network)
            self.reply(b"retry: 60000\nevent: view\ndata: " + data + b"\n\n",
                       "text/event-stream")
        else:
            self.send_error(404)


@pytest.fixture
def page():
    Handler.view = sample()
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    yield f"http://127.0.0.1:{srv.server_address[1]}/"
    srv.shutdown()
    srv.server_close()


def chromium(tmp_path, url, *args):
    r = subprocess.run(["chromium", "--headless", "--no-sandbox", "--disable-dev-shm-usage",
                        "--disable-gpu",
                        "--no-first-run", f"--user-data-dir={tmp_path}/chromium",
                        "--virtual-time-budget=3000", *args, url],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr[-2000:]
    return r.stdout


def element(dom, id_):
    """The inner text of the element with id id_ in a dumped DOM, tags removed."""
    m = re.search(r'<(\w+)[^>]*\bid="%s"[^>]*>(.*?)</\1>' % id_, dom, re.S)
    assert m, f"no #{id_} in the page"
    return re.sub(r"<[^>]+>", " ", m.group(2))


def test_page_renders_the_view(page, tmp_path):
    dom = chromium(tmp_path, page, "--dump-dom")
    v = sample()
    assert 'lang="en"' in dom and 'dir="ltr"' in dom
    assert v["serving"][0]["headline"] in element(dom, "headline")
    serving = element(dom, "serving")
    assert v["serving"][0]["ticket"] in serving and v["serving"][0]["rider"] in serving
    queue = element(dom, "queue")
    for q in v["queue"]:
        assert q["ticket"] in queue and q["eta"] in queue
    assert v["scan"]["text"] in dom and 'id="scan" class="refused"' in dom
    for s in v["slots"]:
        assert f'class="tile {s["state"]}' in dom
    assert v["alarms"][0]["text"] in element(dom, "alarms")
    for a in v["staff"]["actions"]:
        assert a["label"] in dom
    assert v["walkin"]["text"] in element(dom, "join")
    # the page's own words are only the fallback title
    assert "<title>" + v["text"]["title"] + "</title>" in dom
    # the stream ended after its view: the catalogue's word for it
    assert v["text"]["offline"] in element(dom, "conn")


def test_page_without_staff_hides_the_panel(page, tmp_path):
    v = sample()
    del v["text"]["offline"]
    Handler.view = dict(v, staff=None, scan=dict(v["scan"], result="ok"))
    dom = chromium(tmp_path, page, "--dump-dom")
    # no word for it in the catalogue: no banner rather than one of our own
    assert re.search(r'<div id="conn" hidden', dom)
    assert re.search(r'<section id="staff" hidden', dom)
    assert 'id="scan" class="ok"' in dom


@pytest.mark.parametrize("size", ["800,480", "1080,1920"])
def test_screenshots(page, tmp_path, size):
    # the page as riders see it while connected: the banner has no text
    Handler.view["text"]["offline"] = ""
    out = os.path.join(BUILD, "kiosk")
    os.makedirs(out, exist_ok=True)
    shot = os.path.join(out, "sample-%s.png" % size.replace(",", "x"))
    if os.path.exists(shot):
        os.unlink(shot)
    chromium(tmp_path, page, f"--window-size={size}", f"--screenshot={shot}",
             "--hide-scrollbars")
    assert os.path.getsize(shot) > 10000
