#!/bin/sh
# Installs the Debian 12 packages swapd needs and that are missing, so that
# `make`, `make demo` and `make test` work as the first command on a fresh
# machine. Usage: tools/deps.sh GROUP...   (build, test, demo, fuzz)
#
# It says what it installs, uses apt-get as root and sudo otherwise, and does
# nothing at all when every package is already there.
set -eu

build="make gcc libc6-dev pkg-config
 libjson-c-dev libsqlite3-dev libssl-dev libmodbus-dev libserialport-dev
 libgpiod-dev libmosquitto-dev libqrencode-dev libpng-dev libcmocka-dev libmicrohttpd-dev
 gcc-arm-none-eabi libnewlib-arm-none-eabi binutils-arm-none-eabi"
# test: the end-to-end tests drive real peers nobody here wrote.
# procps and man-db: `systemd-analyze verify` (test_systemd.py) checks that
# the unit's ExecReload=/bin/kill exists (procps) and runs `man` (man-db) to
# resolve its Documentation=man: page; a minimal root has neither.
# chromium loads the kiosk page headless (fonts-noto-core: its Devanagari,
# for the Hindi catalogue); tmux drives `swapctl kiosk` as a terminal would.
# python3-pytest-xdist: the end-to-end tests in two processes (tests/run).
test="python3 python3-pytest python3-pytest-xdist sqlite3 mosquitto mosquitto-clients mbpoll
 qemu-system-arm zbar-tools systemd procps man-db chromium fonts-noto-core tmux"
# demo: tools/demo_riders.py owns the scanner's pty and brings the riders;
# mosquitto, when there, is the demo's own broker (it runs without it).
demo="python3"
# fuzz: llvm-14 has llvm-symbolizer-14, which the sanitizer runtime runs to
# put file names and lines in a crash's stack trace.
fuzz="clang libclang-rt-14-dev llvm-14"

want=""
for g in "$@"; do
	case "$g" in
	build) want="$want $build" ;;
	test) want="$want $test" ;;
	fuzz) want="$want $fuzz" ;;
	demo) want="$want $demo" ;;
	*) echo "deps.sh: unknown group '$g' (build, test, demo, fuzz)" >&2; exit 2 ;;
	esac
done

if ! command -v dpkg-query >/dev/null 2>&1; then
	echo "deps.sh: not a Debian system; make sure these are installed:$want" >&2
	exit 0
fi

missing=""
for p in $want; do
	st=$(dpkg-query -W -f='${db:Status-Abbrev}' "$p" 2>/dev/null || true)
	case "$st" in
	ii*) ;;
	*) missing="$missing $p" ;;
	esac
done
[ -z "$missing" ] && exit 0

if [ "$(id -u)" = 0 ]; then
	sudo=""
	echo "swapd: installing missing Debian packages with apt-get:$missing" >&2
elif command -v sudo >/dev/null 2>&1; then
	sudo="sudo"
	echo "swapd: installing missing Debian packages with sudo apt-get:$missing" >&2
else
	echo "swapd: missing Debian packages:$missing" >&2
	echo "swapd: run as root, or install sudo, or: apt-get install$missing" >&2
	exit 1
fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -q >&2
# shellcheck disable=SC2086
$sudo apt-get install -y -q --no-install-recommends $missing >&2
