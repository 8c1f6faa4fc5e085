/* rack-sim: N slot controllers (the real firmware core, unit ids 1..N) on
 * one simulated RS-485 bus, which is a pseudo-terminal: a Modbus RTU master
 * opens the pty (or the symlink --link makes to it) as it would a serial
 * port. One poll loop serves the bus, the control socket and the signals;
 * replies leave at the pace of the configured baud rate.
 * Usage: see usage() and tools/rack-sim/README.md. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "tools/rack-sim/ctl.h"
#include "tools/rack-sim/profile.h"
#include "tools/rack-sim/rack.h"
#include "tools/rack-sim/scenario.h"

#define PHYSICS_US 100000 /* physics step, wall clock */
#define TXQ_MAX 4096

/* The bus as seen from the slaves' side: bytes waiting for their time on
 * the line. A character takes 11 bit times (start, 8 data, parity or a
 * second stop bit, stop: serial line v1.02 section 2.5.1). */
struct bus {
	int fd; /* pty master */
	uint64_t char_us, t35_us;
	uint8_t q[TXQ_MAX];
	uint64_t due[TXQ_MAX]; /* when each byte has been fully sent */
	size_t head, n;
	uint64_t busy_until; /* end of the last byte queued */
};

static uint64_t mono_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/* A controller's reply: queued after the line is quiet for t3.5. */
static void bus_tx(void *ctx, const uint8_t *buf, size_t len)
{
	struct bus *b = ctx;
	uint64_t now = mono_us(), t = now;

	if (b->n + len > TXQ_MAX) {
		fprintf(stderr, "rack-sim: bus transmit queue full, reply dropped\n");
		return;
	}
	if (b->busy_until + b->t35_us > t)
		t = b->busy_until + b->t35_us;
	for (size_t i = 0; i < len; i++) {
		size_t k = (b->head + b->n++) % TXQ_MAX;
		t += b->char_us;
		b->q[k] = buf[i];
		b->due[k] = t;
	}
	b->busy_until = t;
}

/* Writes every byte whose time has come. Nobody reading the pty is a line
 * nobody listens to: what does not fit is lost. */
static void bus_flush(struct bus *b, uint64_t now)
{
	uint8_t out[TXQ_MAX];
	size_t m = 0;

	while (b->n > 0 && b->due[b->head] <= now) {
		out[m++] = b->q[b->head];
		b->head = (b->head + 1) % TXQ_MAX;
		b->n--;
	}
	if (m > 0 && write(b->fd, out, m) < 0 && errno != EAGAIN && errno != EIO)
		fprintf(stderr, "rack-sim: writing the pty: %s\n", strerror(errno));
}

struct opts {
	int slots;
	const char *link, *scenario, *profile, *control;
	uint32_t baud;
	double scale;
};

static void usage(FILE *f)
{
	fprintf(f, "usage: rack-sim --link PATH [--slots N] [--baud B] [--scenario FILE]\n"
		   "                [--time-scale X] [--profile FILE] [--control SOCKET]\n"
		   "       rack-sim --print-profile\n"
		   "  --link PATH       make PATH a symlink to the bus pty (required)\n"
		   "  --slots N         slot controllers, unit ids 1..N (1..247, default 1)\n"
		   "  --baud B          line speed for pacing and t3.5 (300..1000000, default 19200)\n"
		   "  --scenario FILE   steps to run (tools/rack-sim/README.md)\n"
		   "  --time-scale X    simulated seconds per wall second (default 1)\n"
		   "  --profile FILE    serve this register profile instead of the firmware map\n"
		   "  --control SOCKET  UNIX socket for JSON verbs at run time\n"
		   "  --print-profile   print the firmware's register map as a profile and exit\n");
}

static int num_opt(const char *name, const char *s, double lo, double hi, double *out)
{
	char *end;

	errno = 0;
	*out = strtod(s, &end);
	if (!*s || *end || errno || !(*out >= lo && *out <= hi)) {
		fprintf(stderr, "rack-sim: %s: \"%s\" is not a number in %g..%g\n", name, s, lo, hi);
		return -1;
	}
	return 0;
}

static int parse_opts(int argc, char **argv, struct opts *o)
{
	static const struct option lo[] = {
		{ "slots", required_argument, NULL, 's' }, { "link", required_argument, NULL, 'l' },
		{ "baud", required_argument, NULL, 'b' }, { "scenario", required_argument, NULL, 'S' },
		{ "time-scale", required_argument, NULL, 't' },
		{ "profile", required_argument, NULL, 'p' },
		{ "control", required_argument, NULL, 'c' },
		{ "print-profile", no_argument, NULL, 'P' }, { "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	double v;
	int c;

	*o = (struct opts){ .slots = 1, .baud = 19200, .scale = 1 };
	while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		switch (c) {
		case 's':
			if (num_opt("--slots", optarg, 1, 247, &v) || v != floor(v))
				return -1;
			o->slots = (int)v;
			break;
		case 'b':
			if (num_opt("--baud", optarg, 300, 1000000, &v) || v != floor(v))
				return -1;
			o->baud = (uint32_t)v;
			break;
		case 't':
			if (num_opt("--time-scale", optarg, 0.001, 1e6, &o->scale))
				return -1;
			break;
		case 'l':
			o->link = optarg;
			break;
		case 'S':
			o->scenario = optarg;
			break;
		case 'p':
			o->profile = optarg;
			break;
		case 'c':
			o->control = optarg;
			break;
		case 'P': {
			json_object *doc = prof_builtin_json();
			puts(json_object_to_json_string_ext(doc, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE |
								 JSON_C_TO_STRING_SPACED));
			json_object_put(doc);
			exit(0);
		}
		case 'h':
			usage(stdout);
			exit(0);
		default:
			usage(stderr);
			return -1;
		}
	}
	if (optind < argc || !o->link) {
		fprintf(stderr, "rack-sim: %s\n", optind < argc ? "unexpected argument" : "--link PATH is required");
		usage(stderr);
		return -1;
	}
	return 0;
}

/* The pty pair; we keep the slave side open so that the master never sees
 * a hang-up while no client has the port open, and set it raw so that
 * neither echo nor line editing touches binary frames. */
static int open_pty(struct opts *o, int *slave, char *name, size_t namelen)
{
	struct termios tio;
	struct stat st;
	int m = posix_openpt(O_RDWR | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);

	if (m < 0 || grantpt(m) || unlockpt(m) || ptsname_r(m, name, namelen)) {
		fprintf(stderr, "rack-sim: creating the pty: %s\n", strerror(errno));
		return -1;
	}
	*slave = open(name, O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (*slave < 0 || tcgetattr(*slave, &tio)) {
		fprintf(stderr, "rack-sim: %s: %s\n", name, strerror(errno));
		return -1;
	}
	cfmakeraw(&tio);
	cfsetspeed(&tio, B19200);
	tcsetattr(*slave, TCSANOW, &tio);
	if (lstat(o->link, &st) == 0) {
		if (!S_ISLNK(st.st_mode)) {
			fprintf(stderr, "rack-sim: --link %s exists and is not a symlink\n", o->link);
			return -1;
		}
		unlink(o->link);
	}
	if (symlink(name, o->link)) {
		fprintf(stderr, "rack-sim: --link %s: %s\n", o->link, strerror(errno));
		return -1;
	}
	return m;
}

static int signals(void)
{
	sigset_t set;

	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigprocmask(SIG_BLOCK, &set, NULL);
	return signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
}

static void run_steps(struct scn *s, struct rack *r)
{
	const struct scn_step *st;
	char err[256];

	while ((st = scn_due(s, r->sim_s))) {
		json_object *res = rack_exec(r, st->cmd, err, sizeof(err));
		if (res)
			json_object_put(res);
		else
			fprintf(stderr, "rack-sim: %s:%d: %s\n", s->path, st->line, err);
	}
}

/* The loop: nothing in it sleeps but ppoll, whose timeout is the nearest
 * of: the next byte due on the line, the end of a frame (t3.5 after its
 * last byte), the next physics step. */
static int loop(struct bus *b, struct rack *r, struct ctl *c, struct scn *s, int sfd, double scale)
{
	struct pollfd p[3 + CTL_CLIENTS];
	uint64_t last_phys = mono_us(), next_phys = last_phys + PHYSICS_US;

	for (;;) {
		uint64_t now = mono_us(), wake = next_phys;
		uint32_t due;

		run_steps(s, r);
		rack_poll(r, now);
		bus_flush(b, now);
		if (b->n > 0 && b->due[b->head] < wake)
			wake = b->due[b->head];
		for (int i = 0; i < r->n; i++)
			if (mb_slave_pending(&r->slots[i].fw.mb, &due)) {
				int32_t d = (int32_t)(due - (uint32_t)now);
				uint64_t w = d > 0 ? now + (uint64_t)d : now;
				if (w < wake)
					wake = w;
			}
		uint64_t left = wake > now ? wake - now : 0;
		struct timespec ts = { (time_t)(left / 1000000), (long)(left % 1000000) * 1000 };

		p[0] = (struct pollfd){ .fd = sfd, .events = POLLIN };
		p[1] = (struct pollfd){ .fd = b->fd, .events = POLLIN };
		size_t n = 2 + ctl_pollfds(c, p + 2);
		if (ppoll(p, n, &ts, NULL) < 0 && errno != EINTR) {
			fprintf(stderr, "rack-sim: poll: %s\n", strerror(errno));
			return 1;
		}
		if (p[0].revents)
			return 0;
		if (p[1].revents & POLLIN) {
			uint8_t in[512];
			ssize_t got = read(b->fd, in, sizeof(in));
			uint64_t t = mono_us();
			/* The master's bytes arrive on the pty all at once, but
			 * on a real line each takes a character time: the
			 * request occupies the line as a reply does, so the
			 * slave sees its end (and may answer) only that much
			 * later. */
			for (ssize_t i = 0; i < got; i++) {
				b->busy_until = (b->busy_until > t ? b->busy_until : t) + b->char_us;
				rack_rx(r, in[i], (uint32_t)b->busy_until);
			}
		}
		ctl_handle(c, p + 2, n - 2, r);
		now = mono_us();
		if (now >= next_phys) {
			rack_physics(r, (double)(now - last_phys) / 1e6 * scale);
			last_phys = now;
			next_phys = now + PHYSICS_US;
		}
	}
}

int main(int argc, char **argv)
{
	struct opts o;
	struct prof prof;
	struct scn scn = { 0 };
	struct ctl ctl;
	struct rack rack;
	struct bus *bus;
	char err[512], pts[64];
	int slave = -1, sfd, rc = 1;

	setvbuf(stdout, NULL, _IOLBF, 0);
	if (parse_opts(argc, argv, &o))
		return 2;
	if (o.profile && prof_load(o.profile, &prof, err, sizeof(err))) {
		fprintf(stderr, "rack-sim: %s\n", err);
		return 2;
	}
	if (o.scenario && scn_load(&scn, o.scenario, err, sizeof(err))) {
		fprintf(stderr, "rack-sim: %s\n", err);
		return 2;
	}
	ctl_init(&ctl);
	if (!(bus = calloc(1, sizeof(*bus)))) {
		fprintf(stderr, "rack-sim: out of memory\n");
		goto out_scn;
	}
	bus->char_us = (11000000ULL + o.baud - 1) / o.baud;
	bus->t35_us = mb_slave_t35_us(o.baud);
	if ((sfd = signals()) < 0) {
		fprintf(stderr, "rack-sim: signalfd: %s\n", strerror(errno));
		goto out_bus;
	}
	if ((bus->fd = open_pty(&o, &slave, pts, sizeof(pts))) < 0)
		goto out_sfd;
	if (o.control && ctl_open(&ctl, o.control, err, sizeof(err))) {
		fprintf(stderr, "rack-sim: %s\n", err);
		goto out_pty;
	}
	if (rack_init(&rack, o.slots, o.baud, o.profile ? &prof : NULL, bus_tx, bus,
		      (uint32_t)mono_us())) {
		fprintf(stderr, "rack-sim: out of memory\n");
		goto out_ctl;
	}
	printf("rack-sim: ready slots=%d link=%s pty=%s baud=%u profile=%s control=%s\n", o.slots,
	       o.link, pts, o.baud, o.profile ? prof.name : "swapd-slot-v1",
	       o.control ? o.control : "-");
	rc = loop(bus, &rack, &ctl, &scn, sfd, o.scale);
	rack_free(&rack);
out_ctl:
	ctl_close(&ctl);
out_pty:
	unlink(o.link);
	close(slave);
	close(bus->fd);
out_sfd:
	close(sfd);
out_bus:
	free(bus);
out_scn:
	scn_free(&scn);
	return rc;
}
