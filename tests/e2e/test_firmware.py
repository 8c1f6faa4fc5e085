"""The Cortex-M image itself (build/fw/slotfw.bin, the file one would
flash) booted under qemu-system-arm's lm3s6965evb, talking Modbus RTU over
the pty QEMU gives its UART0: it must answer byte for byte as the host
build in rack-sim does, and its master-lost watchdog must trip."""
import os
import re
import subprocess
import time

import pytest

import conftest
from test_rack_sim_util import Port, frame, rack_sim, read_req, write_req  # noqa: F401

IMAGE = os.path.join(conftest.FIRMWARE_DIR, "slotfw.bin")
ELF = os.path.join(conftest.FIRMWARE_DIR, "slotfw.elf")


@pytest.fixture
def mcu(request):
    """One slot controller: QEMU running the image; returns a Port on its
    UART, once the firmware has answered."""
    if not os.path.exists(IMAGE):
        pytest.fail(f"{IMAGE} not built (run make first)")
    q = subprocess.Popen(["qemu-system-arm", "-M", "lm3s6965evb", "-display", "none",
                          "-monitor", "none", "-nodefaults", "-serial", "pty", "-kernel", IMAGE],
                         stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT)
    ports = []

    def fin():
        for p in ports:
            p.close()
        conftest.stop(q)
        q.stdout.close()

    request.addfinalizer(fin)
    line = conftest.wait_line(q.stdout, lambda l: "char device redirected to" in l, 10)
    assert line, "qemu did not print its pty"
    port = Port(re.search(r"(/dev/pts/\d+)", line).group(1))
    ports.append(port)
    # QEMU drops what the guest sends until it has noticed the pty was
    # opened: repeat a harmless read until the first reply.
    deadline = time.monotonic() + 10
    while not port.transact(read_req(1, 4, 9, 1), timeout=0.2):
        assert time.monotonic() < deadline, "the firmware never answered"
    return port


# Requests whose replies must be identical, in this order.
SCRIPT = [
    write_req(1, 3, 1),                     # heartbeat: a known start
    read_req(1, 4, 0, 20),                  # every input register
    read_req(1, 3, 0, 5),                   # every holding register
    frame(1, 16, 0, 2, 0, 3, 6, 0, 120, 0, 0x12, 0, 30),  # limit, heartbeat, watchdog
    read_req(1, 3, 0, 5),
    read_req(1, 4, 0, 5),                   # the fast group
    read_req(1, 4, 10, 10),                 # the health group
    read_req(1, 4, 0, 21),                  # past the end: exception 02
    read_req(1, 4, 0, 0),                   # quantity 0: exception 03
    frame(1, 1, 0, 0, 0, 1),                # coils: exception 01
    write_req(1, 0, 2),                     # lock 2: exception 03
    write_req(1, 4, 0),                     # watchdog 0: exception 03
    frame(1, 16, 0, 5, 0, 2, 4, 0, 1, 0, 1),  # past the end: exception 02
    write_req(1, 1, 1)[:-1] + b"\x00",      # bad CRC: no reply
    read_req(2, 4, 0, 1),                   # another unit: no reply
    write_req(0, 2, 77),                    # broadcast: executed, no reply
    read_req(1, 3, 0, 5),
    write_req(1, 0, 0),                     # unlock
]


def test_cortex_m_answers_like_the_host_build(mcu, rack_sim):
    host = Port(rack_sim(slots=1, baud=19200, control=False).link)
    try:
        for req in SCRIPT:
            want = host.transact(req, timeout=0.3)
            got = mcu.transact(req, timeout=0.3)
            assert got == want, f"request {req.hex()}: qemu {got.hex()} host {want.hex()}"
        # the script did reach something: a full map and the exceptions
        regs = host.regs(1, 3, 0, 5)
        assert regs == mcu.regs(1, 3, 0, 5) == [0, 0, 77, 0x12, 30]
        assert mcu.regs(1, 4, 9, 1) == [0x0100]
    finally:
        host.close()


def test_cortex_m_master_lost_watchdog(mcu):
    assert mcu.transact(write_req(1, 4, 1)) == write_req(1, 4, 1)  # 1 s
    assert mcu.transact(write_req(1, 0, 0)) == write_req(1, 0, 0)  # unlock
    # fed every 0.3 s, it holds for 1.5 s: unlocked, no flag
    for _ in range(5):
        fast = mcu.regs(1, 4, 0, 5)
        assert fast[2] == 0 and fast[4] == 0, fast
        time.sleep(0.3)
    # Now the master goes quiet. The silence is the stimulus, there is
    # nothing to wait on: any frame would feed the watchdog. Four times its
    # 1 s, since under load the emulated CPU's clock can fall well behind.
    time.sleep(4)
    fast = mcu.regs(1, 4, 0, 5)
    assert fast[4] & 4, fast           # master-lost flagged
    assert fast[3] == 4                # state SAFE
    assert fast[2] == 1                # the lock closed again
    assert mcu.regs(1, 3, 0, 2) == [1, 0]
    # latched until the master writes its heartbeat
    assert mcu.regs(1, 4, 4, 1)[0] & 4
    mcu.transact(write_req(1, 3, 7))
    assert mcu.regs(1, 4, 3, 2) == [0, 0]


def test_image_fits_the_budget():
    assert os.path.getsize(IMAGE) < 32 * 1024
    out = subprocess.run(["arm-none-eabi-size", "-B", ELF], capture_output=True, text=True,
                         check=True).stdout.splitlines()[1].split()
    text, data, bss = int(out[0]), int(out[1]), int(out[2])
    assert text + data < 32 * 1024
    assert 2048 < data + bss < 8 * 1024  # the 2 KiB stack is counted
    # the image starts with the vector table: stack top in SRAM, reset in flash
    with open(IMAGE, "rb") as f:
        sp, reset = int.from_bytes(f.read(4), "little"), int.from_bytes(f.read(4), "little")
    assert 0x20000000 < sp <= 0x20010000 and sp % 8 == 0
    assert reset & 1 and reset < os.path.getsize(IMAGE)
