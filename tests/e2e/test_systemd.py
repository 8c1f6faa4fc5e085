"""The systemd unit: systemd-analyze accepts it, and make install puts the
unit, the sysusers file and the udev rule where systemd looks."""
import os
import subprocess

from conftest import BUILD, ROOT


def test_unit_verifies(tmp_path):
    unit = tmp_path / "swapd.service"
    text = open(os.path.join(ROOT, "systemd/swapd.service.in")).read()
    unit.write_text(text.replace("@SBINDIR@", os.path.join(BUILD, "bin")))
    r = subprocess.run(["systemd-analyze", "verify", str(unit)], capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    # verify only warns about unknown settings; a warning is a failure here
    assert r.stderr.strip() == "" and r.stdout.strip() == ""


def test_unit_requirements():
    text = open(os.path.join(ROOT, "systemd/swapd.service.in")).read()
    for line in ["Type=notify", "Restart=on-failure", "StateDirectory=swapd",
                 "RuntimeDirectory=swapd", "ConfigurationDirectory=swapd", "User=swapd",
                 "ProtectSystem=strict", "NoNewPrivileges=yes", "PrivateTmp=yes",
                 "DevicePolicy=closed", "DeviceAllow=char-gpiochip rw",
                 "ExecStartPre=@SBINDIR@/swapd -t -c /etc/swapd/swapd.json"]:
        assert line in text.splitlines(), line


def test_install_layout(tmp_path):
    r = subprocess.run(["make", "-s", "--no-print-directory", "SWAPD_DEPS_DONE=1",
                        f"O={os.path.relpath(BUILD, ROOT)}", f"DESTDIR={tmp_path}",
                        "PREFIX=/usr", "install"], cwd=ROOT, capture_output=True, text=True,
                       timeout=300)
    assert r.returncode == 0, r.stderr
    for path in ["usr/sbin/swapd", "usr/bin/swapctl", "usr/lib/systemd/system/swapd.service",
                 "usr/lib/sysusers.d/swapd.conf", "usr/lib/udev/rules.d/60-swapd-gpio.rules",
                 "usr/share/swapd/config/swapd.example.json"]:
        assert (tmp_path / path).exists(), path
    unit = (tmp_path / "usr/lib/systemd/system/swapd.service").read_text()
    assert "ExecStart=/usr/sbin/swapd -c /etc/swapd/swapd.json" in unit
    assert "@SBINDIR@" not in unit
