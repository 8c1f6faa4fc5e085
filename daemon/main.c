/* swapd: the station edge controller. This file starts the modules of
 * `modules[]` in order, runs the loop, and takes them down again in
 * reverse; it owns the command line, the signals and the config reload. */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/signalfd.h>
#include <sysexits.h>
#include <unistd.h>

#include "daemon/access.h"
#include "daemon/charge.h"
#include "daemon/config.h"
#include "daemon/control.h"
#include "daemon/health.h"
#include "daemon/fault.h"
#include "daemon/fault_battery.h"
#include "daemon/fault_diag.h"
#include "daemon/fault_station.h"
#include "daemon/ledger.h"
#include "daemon/log.h"
#include "daemon/loop.h"
#include "daemon/notify.h"
#include "daemon/queue.h"
#include "daemon/slots.h"
#include "daemon/staff.h"
#include "daemon/status.h"
#include "daemon/store.h"
#include "daemon/sync.h"
#include "daemon/kiosk.h"
#include "daemon/web.h"
#include "daemon/transport.h"
#include "daemon/swap.h"

#define DEFAULT_CONFIG "/etc/swapd/swapd.json"
/* How often an idle store checks its file is still there: two syscalls, so
 * a database removed while nothing is written shows in the health within a
 * second (every write checks for itself anyway). */
#define STORE_CHECK_MS 1000

static struct config *cfg;
static struct store *store;
static char boot_id[33];
static char run_reason[32]; /* why this run began, as the store has it */
static bool run_begun;      /* the store holds this run's record */
static int verbose;
static struct loop_timer alive_timer, check_timer;
static char last_status[256];
static bool shutting_down;   /* loop_run returned: the modules are stopping */

static void usage(FILE *f)
{
	fprintf(f, "usage: swapd [-c FILE] [-t] [-v] [-V]\n"
		   "  -c FILE  configuration (default %s)\n"
		   "  -t       check the configuration and exit (0 valid, 78 not)\n"
		   "  -v       log debug messages whatever log.level says\n"
		   "  -V       print the version and exit\n",
		   DEFAULT_CONFIG);
}

/* Tells systemd the one-line health, when it changed. */
static void update_status(void)
{
	char line[200];

	health_summary(line, sizeof line);
	if (strcmp(line, last_status) == 0)
		return;
	snprintf(last_status, sizeof last_status, "%s", line);
	notify_send("STATUS=%s", line);
}

/* The run's start and its station.started event, in one transaction: the
 * event carries the reason read in it. */
static enum sw_err record_start(char *reason, size_t reasonlen)
{
	store_tx_begin(store);
	store_run_begin(store, boot_id, SWAPD_VERSION, reason, reasonlen, NULL);
	json_object *f = json_object_new_object();
	json_object_object_add(f, "version", json_object_new_string(SWAPD_VERSION));
	json_object_object_add(f, "reason", json_object_new_string(reason));
	store_outbox_add(store, &(struct store_event){ "station.started", boot_id, f });
	json_object_put(f);
	return store_tx_commit(store, "recording the start");
}

static void alive_tick(void *arg)
{
	(void)arg;
	store_run_alive(store, boot_id, NULL); /* a failure is the store's health */
	loop_timer_arm(&alive_timer, cfg->store.alive_interval_ms);
}

static void check_tick(void *arg)
{
	(void)arg;
	store_check(store); /* a failure is the store's health */
	loop_timer_arm(&check_timer, STORE_CHECK_MS);
}

/* The store row: the database, this run's record in it, and the timers
 * that keep both current. */
static enum sw_err start_store(const struct config *c, struct store *unused, char *why,
			       size_t whylen)
{
	(void)unused;
	enum sw_err e = store_open(c->store.path, c->store.busy_timeout_ms, &store, why, whylen);
	if (e == SW_OK)
		e = record_start(run_reason, sizeof run_reason);
	if (e != SW_OK) {
		if (store)
			snprintf(why, whylen, "%.300s: %.200s", c->store.path, store_errmsg(store));
		return e;
	}
	run_begun = true;
	loop_timer_init(&alive_timer, alive_tick, NULL);
	loop_timer_arm(&alive_timer, c->store.alive_interval_ms);
	loop_timer_init(&check_timer, check_tick, NULL);
	loop_timer_arm(&check_timer, STORE_CHECK_MS);
	return SW_OK;
}

static void reconfigure_store(const struct config *c)
{
	loop_timer_arm(&alive_timer, c->store.alive_interval_ms);
}

static void stop_store(void)
{
	loop_timer_cancel(&alive_timer);
	loop_timer_cancel(&check_timer);
	if (run_begun) {
		json_object *stopping = json_object_new_object();
		store_run_end(store, boot_id,
			      &(struct store_event){ "station.stopping", boot_id, stopping });
		json_object_put(stopping);
	}
	run_begun = false;
	store_close(store);
	store = NULL;
}

static enum sw_err control_start(const struct config *c, struct store *st, char *why,
				 size_t whylen)
{
	(void)st;
	return control_open(&c->control, why, whylen);
}

static void control_reconfigure_all(const struct config *c)
{
	control_reconfigure(&c->control);
}

static enum sw_err status_start_run(const struct config *c, struct store *st, char *why,
				    size_t whylen)
{
	return status_start(c, st, boot_id, why, whylen);
}

static enum sw_err access_start_run(const struct config *c, struct store *st, char *why,
				    size_t whylen)
{
	return access_start(c, st, boot_id, why, whylen);
}

static enum sw_err transport_start_run(const struct config *c, struct store *st, char *why,
				       size_t whylen)
{
	return transport_start(c, st, boot_id, why, whylen);
}

static enum sw_err ledger_start_run(const struct config *c, struct store *st, char *why,
				    size_t whylen)
{
	return ledger_start(c, st, boot_id, why, whylen);
}

static enum sw_err fault_start_run(const struct config *c, struct store *st, char *why,
				   size_t whylen)
{
	return fault_start(c, st, boot_id, why, whylen);
}

static enum sw_err swap_start_run(const struct config *c, struct store *st, char *why,
				  size_t whylen)
{
	return swap_start(c, st, boot_id, why, whylen);
}

static enum sw_err queue_start_run(const struct config *c, struct store *st, char *why,
				   size_t whylen)
{
	return queue_start(c, st, boot_id, why, whylen);
}

static enum sw_err sync_start_run(const struct config *c, struct store *st, char *why,
				  size_t whylen)
{
	return sync_start(c, st, boot_id, why, whylen);
}

static enum sw_err web_start_run(const struct config *c, struct store *st, char *why,
				 size_t whylen)
{
	(void)st;
	return web_start(&c->kiosk, kiosk_view, why, whylen);
}

static enum sw_err systemd_start(const struct config *c, struct store *st, char *why,
				 size_t whylen)
{
	(void)c;
	(void)st;
	(void)why;
	(void)whylen;
	if (notify_init())
		health_set("systemd", HEALTH_OK, "watchdog %lld ms",
			   (long long)notify_watchdog_ms());
	return SW_OK;
}

static void systemd_stop(void)
{
	notify_send("STOPPING=1\nSTATUS=stopping");
	notify_close();
}

/* The modules, in start order; they stop in reverse. A module is one row:
 * start gets the config (valid until its reconfigure, or for good if it
 * has none: it must copy what it keeps) and the store opened by the first
 * row; reconfigure (may be NULL) takes a reloaded config; stop must be
 * safe after a failed start. `exit` is swapd's exit code when start fails. */
static const struct module {
	const char *name;
	enum sw_err (*start)(const struct config *cfg, struct store *st, char *why, size_t whylen);
	void (*reconfigure)(const struct config *cfg);
	void (*stop)(void);
	int exit;
} modules[] = {
	{ "store", start_store, reconfigure_store, stop_store, EX_IOERR },
	{ "control socket", control_start, control_reconfigure_all, control_close, EX_UNAVAILABLE },
	{ "status", status_start_run, status_reconfigure, status_stop, EX_SOFTWARE },
	{ "rack", slots_start, NULL, slots_stop, EX_CONFIG },
	{ "charging", charge_start, charge_reconfigure, charge_stop, EX_SOFTWARE },
	{ "tokens", access_start_run, access_reconfigure, access_stop, EX_CONFIG },
	/* Each row below may call the rows above it (transport and the swap
	 * flow judge batteries by the ledger's rule and raise faults; staff
	 * aborts swaps and acknowledges tickets). */
	{ "ledger", ledger_start_run, ledger_reconfigure, ledger_stop, EX_SOFTWARE },
	{ "fault", fault_start_run, fault_reconfigure, fault_stop, EX_SOFTWARE },
	{ "fault diagnosis", fault_diag_start, NULL, fault_diag_stop, EX_SOFTWARE },
	{ "battery faults", fault_battery_start, fault_battery_reconfigure, fault_battery_stop, EX_SOFTWARE },
	{ "station faults", fault_station_start, fault_station_reconfigure, fault_station_stop, EX_SOFTWARE },
	{ "swap", swap_start_run, swap_reconfigure, swap_stop, EX_SOFTWARE },
	{ "queue", queue_start_run, queue_reconfigure, queue_stop, EX_SOFTWARE },
	{ "transport", transport_start_run, transport_reconfigure, transport_stop, EX_SOFTWARE },
	{ "staff", staff_start, staff_reconfigure, staff_stop, EX_SOFTWARE },
	/* Fleet sync reads the slots for the birth and tells the swap flow
	 * when its outbox is full; stopped first, it says offline while
	 * the rest still runs. */
	{ "sync", sync_start_run, NULL, sync_stop, EX_SOFTWARE },
	/* The kiosk follows every module's events; its page is served last
	 * and stopped first, so no request reaches a module already gone. */
	{ "kiosk", kiosk_start, NULL, kiosk_stop, EX_CONFIG },
	{ "kiosk page", web_start_run, NULL, web_stop, EX_UNAVAILABLE },
	{ "systemd", systemd_start, NULL, systemd_stop, EX_OSERR },
};
#define NMODULES (sizeof modules / sizeof modules[0])

static void apply_log_level(void)
{
	log_set_level(verbose ? LOG_DEBUG : cfg->log.level);
}

/* SIGHUP: parse into a fresh struct, swap it in only when it is valid and
 * changes nothing that needs a restart; otherwise keep running as before. */
static void reload(void)
{
	struct config *next = malloc(sizeof *next);
	struct config_errors *errs = malloc(sizeof *errs);

	if (!next || !errs) {
		log_msg(LOG_ERR, "reload: out of memory; keeping the running config");
		goto out;
	}
	if (config_load(cfg->path, next, errs) < 0 || config_check_reload(cfg, next, errs) < 0) {
		for (size_t i = 0; i < errs->n && i < CONFIG_MAX_ERRORS; i++)
			log_msg(LOG_ERR, "config: %s", errs->msg[i]);
		if (errs->n > CONFIG_MAX_ERRORS)
			log_msg(LOG_ERR, "config: ... and %zu more", errs->n - CONFIG_MAX_ERRORS);
		log_msg(LOG_ERR, "reload rejected; still running config %.12s", cfg->digest);
		goto out;
	}
	struct config *old = cfg;
	cfg = next;
	next = old;
	apply_log_level();
	for (size_t i = 0; i < NMODULES; i++)
		if (modules[i].reconfigure)
			modules[i].reconfigure(cfg);
	store_audit(store, "signal", "config.reload", cfg->digest, NULL);
	log_msg(LOG_NOTICE, "config reloaded: %.12s", cfg->digest);
out:
	free(next);
	free(errs);
}

static void on_signal(int fd, short revents, void *arg)
{
	struct signalfd_siginfo si;

	(void)revents;
	(void)arg;
	while (read(fd, &si, sizeof si) == (ssize_t)sizeof si) {
		switch (si.ssi_signo) {
		case SIGHUP:
			/* Stopping: the modules are going down one by one, and
			 * a reload would bring back what one already stopped. */
			if (shutting_down)
				log_msg(LOG_NOTICE, "signal %d: stopping, not reloading", (int)si.ssi_signo);
			else
				reload();
			break;
		case SIGTERM:
		case SIGINT:
			log_msg(LOG_NOTICE, "signal %d: stopping", (int)si.ssi_signo);
			loop_stop();
			break;
		}
	}
}

static int check_only(const char *path)
{
	struct config c;
	struct config_errors errs;

	if (config_load(path, &c, &errs) < 0) {
		for (size_t i = 0; i < errs.n && i < CONFIG_MAX_ERRORS; i++)
			fprintf(stderr, "%s\n", errs.msg[i]);
		if (errs.n > CONFIG_MAX_ERRORS)
			fprintf(stderr, "... and %zu more\n", errs.n - CONFIG_MAX_ERRORS);
		return EX_CONFIG;
	}
	printf("%s: ok: station %s, store %s, control %s, digest %.12s\n", path, c.station.id,
	       c.store.path, c.control.socket, c.digest);
	return 0;
}

static int make_boot_id(void)
{
	unsigned char b[16];

	if (getrandom(b, sizeof b, 0) != (ssize_t)sizeof b)
		return -1;
	for (size_t i = 0; i < sizeof b; i++)
		snprintf(boot_id + 2 * i, 3, "%02x", b[i]);
	return 0;
}

static int signals_open(void)
{
	sigset_t set;
	int fd;

	/* Blocked and read through a signalfd: no handler runs at all, the
	 * loop sees a signal like any other input. */
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	if (sigprocmask(SIG_BLOCK, &set, NULL) < 0)
		return -1;
	/* A closed peer or a file size limit must give an error return at the
	 * write that hit it, not kill the daemon. */
	signal(SIGPIPE, SIG_IGN);
	signal(SIGXFSZ, SIG_IGN);
	fd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
	if (fd < 0 || loop_add_fd(fd, POLLIN, on_signal, NULL) < 0)
		return -1;
	return fd;
}

/* Starts the modules in table order; on a failure stops those started, in
 * reverse, and returns the failed row's exit code. */
static int start_modules(size_t *started)
{
	char why[512];

	for (*started = 0; *started < NMODULES; (*started)++) {
		const struct module *m = &modules[*started];
		why[0] = '\0';
		enum sw_err e = m->start(cfg, store, why, sizeof why);
		if (e != SW_OK) {
			log_msg(LOG_CRIT, "cannot start: %s: %s (%s)", m->name, why, sw_strerror(e));
			/* a failed start may have half-opened: its stop cleans up */
			m->stop();
			return m->exit;
		}
	}
	return 0;
}

static void stop_modules(size_t started)
{
	while (started > 0)
		modules[--started].stop();
}

int main(int argc, char **argv)
{
	const char *path = DEFAULT_CONFIG;
	bool test_only = false;
	struct config_errors errs;
	size_t started;
	int opt, sigfd, rc;

	static const struct option longopts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "test", no_argument, NULL, 't' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "version", no_argument, NULL, 'V' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	while ((opt = getopt_long(argc, argv, "c:tvVh", longopts, NULL)) != -1) {
		switch (opt) {
		case 'c': path = optarg; break;
		case 't': test_only = true; break;
		case 'v': verbose = 1; break;
		case 'V': printf("swapd %s\n", SWAPD_VERSION); return 0;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return EX_USAGE;
		}
	}
	if (optind != argc) {
		usage(stderr);
		return EX_USAGE;
	}
	if (test_only)
		return check_only(path);

	log_init(verbose ? LOG_DEBUG : LOG_INFO);
	cfg = malloc(sizeof *cfg);
	if (!cfg || config_load(path, cfg, &errs) < 0) {
		for (size_t i = 0; cfg && i < errs.n && i < CONFIG_MAX_ERRORS; i++)
			log_msg(LOG_ERR, "config: %s", errs.msg[i]);
		log_msg(LOG_CRIT, "cannot start: configuration %s is not valid", path);
		free(cfg);
		return EX_CONFIG;
	}
	apply_log_level();
	if (make_boot_id() < 0 || (sigfd = signals_open()) < 0) {
		log_msg(LOG_CRIT, "cannot start: %s", strerror(errno));
		free(cfg);
		return EX_OSERR;
	}

	rc = start_modules(&started);
	if (rc == 0) {
		health_on_change(update_status);
		log_msg(LOG_NOTICE, "swapd %s started: station %s, boot %s, %s, config %.12s",
			SWAPD_VERSION, cfg->station.id, boot_id, run_reason, cfg->digest);
		health_summary(last_status, sizeof last_status);
		notify_send("READY=1\nSTATUS=%s\nMAINPID=%d", last_status, (int)getpid());
		if (loop_run() < 0)
			rc = EX_SOFTWARE;
	}
	shutting_down = true;
	stop_modules(started);
	loop_del_fd(sigfd);
	close(sigfd);
	loop_free();
	health_reset();
	free(cfg);
	log_msg(LOG_NOTICE, "stopped");
	return rc;
}
