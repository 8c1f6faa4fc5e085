"""swaptoken end to end: the contract's vectors through the real program,
every reason code it can give without a store, its usage errors, the key
file mode check, no secret in any output (checked on every run), and QR codes read back by
Debian's zbarimg (a decoder nobody here wrote) in all three formats."""
import os
import re
import struct
import subprocess
import xml.etree.ElementTree as ET

import pytest

from conftest import bin_path

K1 = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="
K2 = "Ly1ouluLZIcmLDPq0s+VCAjMpRuxiy1JUJzisw8J+A4="
STATION = "ST-DEL-001"
# Before every vector's exp and within each kind's default lifetime.
NOW = "1794950000"
VECTORS = [
    "SW1.S.ST-DEL-001.u-000123.-.kQ2xF9aZ.1795000000.k1.RfpBnQooMDivzq_bf9L3IA",
    "SW1.B.*.staff-17.staff.badge-0017.1826536000.k1.nOKNTgK7NkIWm8cgHSvoSQ",
    "SW1.T.ST-DEL-001.job-5521.p2d3.tj5521a.1795000000.k1.LPYx2K756iPqzEREgaAbVg",
    "SW1.S.ST-DEL-001.u-000123.-.kQ2xF9aZ.1795000000.k2.0po1e_ybVR1YIyCcln4Fmg",
]


def run(*args, stdin=None):
    """Runs swaptoken; whatever it was asked, no key may show in its output."""
    p = subprocess.run([bin_path("swaptoken"), *args], input=stdin, capture_output=True,
                       timeout=30)
    for secret in (K1, K2, K1[:16], K2[:16]):
        assert secret.encode() not in p.stdout + p.stderr
    return p


def write_keys(path, keys, mode=0o600):
    entries = ",".join('{"kid":"%s","secret":"%s"}' % k for k in keys)
    with open(path, "w") as f:
        f.write('{"keys":[%s]}' % entries)
    os.chmod(path, mode)
    return str(path)


@pytest.fixture
def keys(tmp_path):
    return write_keys(tmp_path / "keys.json", [("k1", K1), ("k2", K2)])


def verify(keys, token, now=NOW, station=STATION):
    return run("verify", "--keys", keys, "--station", station, "--now", now, token)


@pytest.mark.parametrize("token", VECTORS)
def test_vectors_verify(keys, token):
    p = verify(keys, token)
    assert (p.returncode, p.stdout) == (0, b"ok\n"), p.stderr


@pytest.mark.parametrize("i,args", [
    (0, ["--kid", "k1", "--kind", "S", "--station", STATION, "--subject", "u-000123",
         "--nonce", "kQ2xF9aZ", "--ttl", "50000"]),
    (1, ["--kid", "k1", "--kind", "B", "--station", "*", "--subject", "staff-17",
         "--arg", "staff", "--nonce", "badge-0017", "--ttl", "31586000"]),
    (2, ["--kid", "k1", "--kind", "T", "--station", STATION, "--subject", "job-5521",
         "--arg", "p2d3", "--nonce", "tj5521a", "--ttl", "50000"]),
    (3, ["--kid", "k2", "--kind", "S", "--station", STATION, "--subject", "u-000123",
         "--arg", "-", "--nonce", "kQ2xF9aZ", "--ttl", "50000"]),
])
def test_issue_gives_the_vectors(keys, i, args):
    p = run("issue", "--keys", keys, "--now", NOW, *args)
    assert (p.returncode, p.stdout.decode()) == (0, VECTORS[i] + "\n"), p.stderr


def issue(keys, *args):
    p = run("issue", "--keys", keys, "--now", NOW, *args)
    assert p.returncode == 0, p.stderr
    return p.stdout.decode().strip()


def test_issue_random_nonce(keys):
    a = issue(keys, "--kid", "k1", "--kind", "S", "--station", STATION, "--subject", "w",
              "--ttl", "600")
    b = issue(keys, "--kid", "k1", "--kind", "S", "--station", STATION, "--subject", "w",
              "--ttl", "600")
    assert a.split(".")[5] != b.split(".")[5]
    assert re.fullmatch(r"[A-Za-z0-9_-]{16}", a.split(".")[5])
    assert verify(keys, a).stdout == b"ok\n"


def test_reason_codes(keys):
    """Each reason swaptoken can give (steps 1-6), with exit status 1."""
    v = VECTORS[0]
    too_long = issue(keys, "--kid", "k1", "--kind", "S", "--station", STATION,
                     "--subject", "u", "--ttl", "86401")
    cases = [
        (v + "x", NOW, STATION, "malformed"),
        (v.replace(".k1.", ".k3."), NOW, STATION, "unknown_key"),
        (v[:-2] + "IQ", NOW, STATION, "bad_mac"),
        (v, NOW, "ST-DEL-002", "wrong_station"),
        (v, "1795000061", STATION, "expired"),
        (too_long, NOW, STATION, "too_long"),
    ]
    for token, now, station, reason in cases:
        p = verify(keys, token, now=now, station=station)
        assert (p.returncode, p.stdout.decode()) == (1, reason + "\n"), (token, p.stderr)


def test_stdin_is_read_as_a_scanner(keys):
    """`-` reads one line and strips the CR/LF a scanner appends; an argument
    is taken exactly as given."""
    base = ["verify", "--keys", keys, "--station", STATION, "--now", NOW]
    p = run(*base, "-", stdin=(VECTORS[2] + "\r\n").encode())
    assert (p.returncode, p.stdout) == (0, b"ok\n")
    p = run(*base, "-", stdin=(" " + VECTORS[2] + "\n").encode())
    assert (p.returncode, p.stdout) == (1, b"malformed\n")
    p = run(*base, VECTORS[2] + "\n")
    assert (p.returncode, p.stdout) == (1, b"malformed\n")


def test_verify_never_marks(keys):
    """No store: the same single-use token verifies again (the daemon marks it)."""
    assert verify(keys, VECTORS[0]).stdout == b"ok\n"
    assert verify(keys, VECTORS[0]).stdout == b"ok\n"


@pytest.mark.parametrize("args,message", [
    ([], "a subcommand is required"),
    (["sign"], '"sign" is not a subcommand'),
    (["verify", "--station", STATION, VECTORS[0]], "--keys is required"),
    (["verify", "--keys", "K", VECTORS[0]], "--station is required"),
    (["verify", "--keys", "K", "--station", STATION], "exactly one TOKEN"),
    (["verify", "--keys", "K", "--station", STATION, "--now", "soon", VECTORS[0]],
     '--now "soon" is not Unix seconds'),
    (["verify", "--keys", "K", "--station", STATION, "--ttl", "5", VECTORS[0]],
     "--ttl is not an option of verify"),
    (["verify", "--colour", "red"], "--colour: unknown option"),
    (["issue", "--keys", "K", "--kid", "k1", "--kind", "S", "--station", STATION,
      "--subject", "u"], "--ttl is required"),
    (["issue", "--keys", "K", "--kid", "k1", "--kind", "X", "--station", STATION,
      "--subject", "u", "--ttl", "5"], '--kind "X" is not S, B or T'),
    (["issue", "--keys", "K", "--kid", "k1", "--kind", "B", "--station", STATION,
      "--subject", "u", "--ttl", "5"], "--arg is required for kind B"),
    (["issue", "--keys", "K", "--kid", "k1", "--kind", "S", "--station", STATION,
      "--subject", "u", "--ttl", "0"], '--ttl "0" is not a positive number'),
    (["issue", "--keys", "K", "--kid", "k1", "--kind", "S", "--station", STATION,
      "--subject", "u" * 33, "--ttl", "5"], "--subject \"" + "u" * 33 + "\" is longer than 32"),
    (["qr", "--format", "gif", VECTORS[0]], '--format "gif" is not utf8, svg or png'),
    (["qr", VECTORS[0] + "\n"], "is not a token"),
    (["qr"], "exactly one TOKEN"),
])
def test_usage_errors(args, message):
    p = run(*args)
    assert p.returncode == 2
    assert message in p.stderr.decode(), p.stderr
    assert p.stdout == b""


@pytest.mark.parametrize("args,message", [
    (["--kid", "k9", "--kind", "S", "--station", STATION, "--subject", "u"],
     'kid "k9" is not in the key file'),
    (["--kid", "k1", "--kind", "S", "--station", "st-1", "--subject", "u"],
     'station "st-1" is not 1 to 24 of A-Z 0-9 -'),
    (["--kid", "k1", "--kind", "T", "--station", STATION, "--subject", "u", "--arg", "p1"],
     'arg "p1" is not p<N>d<M>'),
    (["--kid", "k1", "--kind", "S", "--station", STATION, "--subject", "u", "--nonce", "abc"],
     'nonce "abc" is not 6 to 22'),
])
def test_issue_field_errors(keys, args, message):
    p = run("issue", "--keys", keys, "--ttl", "60", *args)
    assert p.returncode == 2
    assert message in p.stderr.decode()


def test_help_says_no_store():
    p = run("--help")
    assert p.returncode == 0
    assert b"steps 7 and 8 (revoked, replayed) are NOT checked" in p.stdout


@pytest.mark.parametrize("mode", [0o640, 0o604, 0o660, 0o644])
def test_key_file_readable_by_others_is_refused(tmp_path, mode):
    path = write_keys(tmp_path / "keys.json", [("k1", K1)], mode)
    p = verify(path, VECTORS[0])
    assert p.returncode == 2
    assert f"mode {mode:04o} lets group or others access the keys".encode() in p.stderr
    assert p.stdout == b""


def test_bad_key_file_names_entry_not_secret(tmp_path):
    bad = K1[:-2] + "9="   # the same 32 bytes, but non-zero unused bits
    path = write_keys(tmp_path / "keys.json", [("k1", K1), ("k7", bad)])
    p = verify(path, VECTORS[0])
    assert p.returncode == 2
    assert b'keys[1] (kid "k7"): secret: is not standard base64 of 32 bytes' in p.stderr
    assert bad.encode() not in p.stderr


# --- QR codes, read back by zbarimg ----------------------------------------

def zbar(path):
    p = subprocess.run(["zbarimg", "--raw", "-q", str(path)], capture_output=True, timeout=60)
    assert p.returncode == 0, p.stderr
    return p.stdout.decode().rstrip("\n")


def write_pgm(path, grid, scale=4):
    """A binary PGM of a module grid (True = dark), `scale` pixels a module."""
    n = len(grid)
    rows = []
    for row in grid:
        line = bytes(0 if dark else 255 for dark in row for _ in range(scale))
        rows.extend([line] * scale)
    with open(path, "wb") as f:
        f.write(b"P5 %d %d 255\n" % (n * scale, n * scale))
        f.write(b"".join(rows))


def longest_token(keys):
    return issue(keys, "--kid", "k1", "--kind", "T", "--station", "ABCDEFGHIJKLMNOPQRSTUVWX",
                 "--subject", "abcdefghijklmnopqrstuvwxyz_-0123", "--arg", "p99d99",
                 "--nonce", "abcdefghijklmnopqrs_-9", "--ttl", "604800")


@pytest.mark.parametrize("i", range(len(VECTORS) + 1))
def test_qr_png_decodes(keys, tmp_path, i):
    token = VECTORS[i] if i < len(VECTORS) else longest_token(keys)
    out = tmp_path / "t.png"
    p = run("qr", "--format", "png", "--out", str(out), token)
    assert p.returncode == 0, p.stderr
    data = out.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    assert width == height and width % 8 == 0 and (width // 8 - 8 - 17) % 4 == 0
    assert zbar(out) == token


def test_qr_png_to_stdout(keys, tmp_path):
    p = run("qr", "--format", "png", VECTORS[1])
    assert p.returncode == 0
    out = tmp_path / "s.png"
    out.write_bytes(p.stdout)
    assert zbar(out) == VECTORS[1]


def test_qr_svg_decodes(tmp_path):
    """The SVG is rasterised here (its rectangles are all it draws), so the
    test does not depend on ImageMagick's SVG delegate."""
    token = VECTORS[2]
    p = run("qr", "--format", "svg", token)
    assert p.returncode == 0
    root = ET.fromstring(p.stdout)
    ns = "{http://www.w3.org/2000/svg}"
    assert root.tag == ns + "svg"
    n = int(root.get("viewBox").split()[3])
    assert root.find(ns + "rect").get("fill") == "#ffffff"
    grid = [[False] * n for _ in range(n)]
    d = root.find(ns + "path").get("d")
    runs = re.findall(r"M(\d+) (\d+)h(\d+)v1h-(\d+)z", d)
    assert "".join("M%s %sh%sv1h-%sz" % r for r in runs) == d
    for x, y, w, _ in runs:
        for dx in range(int(w)):
            grid[int(y)][int(x) + dx] = True
    # the quiet zone: 4 light modules on every side
    assert not any(grid[y][x] for y in range(n) for x in range(n)
                   if min(x, y) < 4 or max(x, y) >= n - 4)
    write_pgm(tmp_path / "svg.pgm", grid)
    assert zbar(tmp_path / "svg.pgm") == token


def test_qr_utf8_decodes(tmp_path):
    """Half blocks, light modules drawn: rebuilt into an image for zbarimg."""
    token = VECTORS[0]
    p = run("qr", token)
    assert p.returncode == 0
    lines = p.stdout.decode().splitlines()
    n = len(lines[0])
    assert all(len(line) == n for line in lines) and len(lines) == (n + 1) // 2
    light = {"\u2588": (True, True), "\u2580": (True, False), "\u2584": (False, True),
             " ": (False, False)}
    grid = []
    for line in lines:
        grid.append([not light[c][0] for c in line])
        grid.append([not light[c][1] for c in line])
    grid = grid[:n]
    assert not any(grid[y][x] for y in range(n) for x in range(n)
                   if min(x, y) < 4 or max(x, y) >= n - 4)
    write_pgm(tmp_path / "utf8.pgm", grid)
    assert zbar(tmp_path / "utf8.pgm") == token
