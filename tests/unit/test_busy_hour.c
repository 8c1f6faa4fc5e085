/* The busy hour (issue 10): 60 riders in one hour at a station of 12
 * slots, 8 charged batteries and 4 empty slots at the start, in simulated
 * time on the simulated rack ("sim:12", the slot firmware and its battery
 * physics in process), with the real modules as main.c starts them:
 * slots, charging, tokens, the ledger, the swap flow and the queue.
 *
 * Riders come as a Poisson process (a fixed seed): fleet riders reserve
 * (queue_reserve), report their approach and arrival, and scan their S
 * token; walk-ins take a ticket at the kiosk (the `ticket` command) and
 * scan it. A rider told not_your_turn, no_charged_battery, busy or
 * no_empty_slot scans again when the kiosk's ETA for them has come (half a
 * minute to five minutes later), returns a flat
 * battery (10-30 % SOC, charged afterwards by charge.c in the simulator)
 * and takes the charged one at a person's pace. A fleet rider whose ETA is
 * longer than they will wait cancels at once; a rider whose patience runs
 * out gives up (a fleet rider cancels in the app, a walk-in just walks off
 * and the queue finds them a no-show). Every rider ends served or with the
 * reason they were told, the hour and its tail end with nothing stuck, and
 * the ETAs given at the join are printed beside the waits that happened. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <json-c/json.h>
#include <sqlite3.h>

#include "daemon/access.h"
#include "daemon/charge.h"
#include "daemon/command.h"
#include "daemon/config.h"
#include "daemon/control.h"
#include "daemon/event.h"
#include "daemon/health.h"
#include "daemon/ledger.h"
#include "daemon/log.h"
#include "daemon/loop.h"
#include "daemon/queue.h"
#include "daemon/slots.h"
#include "daemon/store.h"
#include "daemon/store_swaps.h"
#include "daemon/swap.h"
#include "daemon/token.h"
#include "drivers/rack.h"
#include "drivers/rack_bus.h"
#include "tests/unit/station_sim.h"

#define NSLOTS 12
#define NCHARGED 8
#define NRIDERS 60
#define HOUR_S 3600
/* The tail after the hour: the last riders' patience, a ghost's no-show
 * grace, and the batteries charging for them. */
#define TAIL_S (3 * 3600)
#define STEP_MS 500
#define SEED 0x5eedb05bULL

enum kind { FLEET, WALKIN };
enum phase { P_AWAY, P_ROAD, P_KIOSK, P_IN, P_OUT, P_ENDING, P_DONE };

struct rider {
	enum kind kind;
	char user[16], nonce[24], token[TOKEN_TEXT_MAX + 1];
	int64_t appear_ms, arrive_ms; /* from the start of the hour */
	int lead_s, patience_s;
	uint64_t battery;
	int soc, soh;
	int64_t ticket;       /* 0: no place */
	int eta_s;            /* the ETA given at the join */
	bool waits;           /* the join said: waits for charging */
	int eta_here_s;       /* the ETA when they reached the kiosk */
	int64_t joined_ms, kiosk_ms, started_ms;
	int64_t swap;
	enum phase phase;
	int64_t next_ms;
	bool approached;
	char last_refusal[32];
	char outcome[48];
};

static struct rider riders[NRIDERS];
static int64_t t0;

/* What the modules tell: the latest stage of each swap, whether it ended,
 * and why each ticket left the queue. */
#define MAX_SWAPS 256
static struct { char stage[16]; bool ended; char user[16]; } swaps[MAX_SWAPS];
static int64_t last_started;
static struct { int64_t ticket; char why[16]; } departures[NRIDERS * 2];
static int ndepartures;

/* Refusals told at the kiosk, by reason. */
static struct { char reason[32]; int n; } refusals[16];
static int nrefusals;

static uint64_t rng = SEED;

/* splitmix64: the same riders on every machine. */
static uint64_t next_rand(void)
{
	uint64_t z = (rng += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

/* Uniform in [lo, hi]. */
static int uniform(int lo, int hi)
{
	return lo + (int)(next_rand() % (uint64_t)(hi - lo + 1));
}

static int64_t now_ms(void)
{
	return loop_now() - t0;
}

static void on_event(const struct event *ev, void *arg)
{
	(void)arg;
	if (ev->type == EV_QUEUE_CHANGED) {
		if (strcmp(ev->what, "joined") != 0 && strcmp(ev->what, "arrival") != 0 &&
		    ndepartures < (int)(sizeof departures / sizeof departures[0])) {
			departures[ndepartures].ticket = ev->ref;
			snprintf(departures[ndepartures++].why, sizeof departures[0].why, "%s", ev->what);
		}
		return;
	}
	if (ev->ref <= 0 || ev->ref >= MAX_SWAPS)
		fail_msg("swap id %lld beyond the test's table", (long long)ev->ref);
	if (ev->type == EV_SWAP_STARTED) {
		last_started = ev->ref;
		snprintf(swaps[ev->ref].user, sizeof swaps[0].user, "%s", ev->who ? ev->who : "");
	} else if (ev->type == EV_SWAP_STAGE) {
		snprintf(swaps[ev->ref].stage, sizeof swaps[0].stage, "%s", ev->what);
	} else if (ev->type == EV_SWAP_ENDED) {
		swaps[ev->ref].ended = true;
	}
}

static const enum event_type watched[] = {
	EV_SWAP_STARTED, EV_SWAP_STAGE, EV_SWAP_ENDED, EV_QUEUE_CHANGED,
};

/* Why ticket left the queue ("" while it waits). */
static const char *departure(int64_t ticket)
{
	for (int k = 0; k < ndepartures; k++)
		if (departures[k].ticket == ticket)
			return departures[k].why;
	return "";
}

static void count_refusal(const char *reason)
{
	int k = 0;

	while (k < nrefusals && strcmp(refusals[k].reason, reason) != 0)
		k++;
	if (k == nrefusals) {
		if (nrefusals == (int)(sizeof refusals / sizeof refusals[0]))
			fail_msg("too many kinds of refusal: %s", reason);
		snprintf(refusals[nrefusals++].reason, sizeof refusals[0].reason, "%s", reason);
	}
	refusals[k].n++;
}

static int setup(void **state)
{
	(void)state;
	station_init(NSLOTS, "ST-1", true);
	snprintf(station_cfg.tokens.walkin_kid, sizeof station_cfg.tokens.walkin_kid, "k1");
	station_cfg.swap.min_soc = station_cfg.rack.charged_soc;
	for (size_t k = 0; k < sizeof watched / sizeof watched[0]; k++)
		assert_int_equal(event_subscribe(watched[k], on_event, NULL), SW_OK);
	station_start(STATION_CHARGE | STATION_ACCESS | STATION_LEDGER);
	/* the charged stock, healthy and not quite alike */
	for (int n = 1; n <= NCHARGED; n++)
		station_sim("{\"op\":\"insert\",\"slot\":%d,\"battery\":%d,\"soc\":%d,\"soh\":%d,"
			    "\"force\":true}", n, 100 + n, 96 + n % 4, 86 + n);
	station_read();
	station_start(STATION_SWAP | STATION_QUEUE);
	return 0;
}

static int teardown(void **state)
{
	for (size_t k = 0; k < sizeof watched / sizeof watched[0]; k++)
		event_unsubscribe(watched[k], on_event, NULL);
	return station_teardown(state);
}

static int by_appearance(const void *a, const void *b)
{
	const struct rider *x = a, *y = b;

	return (x->appear_ms > y->appear_ms) - (x->appear_ms < y->appear_ms);
}

/* 60 arrivals of a Poisson process over the hour are 60 uniform times,
 * sorted. Two in five are walk-ins. */
static void make_riders(void)
{
	for (int k = 0; k < NRIDERS; k++) {
		struct rider *r = &riders[k];
		memset(r, 0, sizeof *r);
		r->appear_ms = (int64_t)(next_rand() % (HOUR_S * 1000ULL));
	}
	qsort(riders, NRIDERS, sizeof riders[0], by_appearance);
	for (int k = 0; k < NRIDERS; k++) {
		struct rider *r = &riders[k];
		r->kind = uniform(1, 5) <= 2 ? WALKIN : FLEET;
		snprintf(r->user, sizeof r->user, "rider-%02d", k + 1);
		snprintf(r->nonce, sizeof r->nonce, "busy-nonce-%02d", k + 1);
		r->lead_s = r->kind == FLEET ? uniform(300, 1200) : 0;
		r->arrive_ms = r->appear_ms + r->lead_s * 1000LL;
		r->patience_s = uniform(15, 90) * 60;
		r->battery = 1000 + (uint64_t)k;
		r->soc = uniform(10, 30);
		r->soh = uniform(80, 98);
		r->phase = P_AWAY;
		r->next_ms = r->appear_ms;
	}
}

static void finish(struct rider *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void finish(struct rider *r, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(r->outcome, sizeof r->outcome, fmt, ap);
	va_end(ap);
	r->phase = P_DONE;
}

/* The fleet's app reserves: the place, or why not. A rider told they
 * would wait longer than they will goes elsewhere at once. */
static void reserve(struct rider *r)
{
	struct queue_place p;
	enum queue_result q = queue_reserve(r->user, r->nonce, r->lead_s, 0, &p);

	if (q != QUEUE_OK) {
		finish(r, "refused:%s", queue_result_code(q));
		return;
	}
	r->ticket = p.ticket;
	r->eta_s = p.eta_s;
	r->waits = p.waits_for_charging;
	r->joined_ms = now_ms();
	if (p.eta_s > r->lead_s + r->patience_s) {
		assert_int_equal(queue_cancel(r->ticket), QUEUE_OK);
		finish(r, "declined_eta");
		return;
	}
	r->phase = P_ROAD;
	r->next_ms = r->arrive_ms - 120000;
}

/* The kiosk issues a walk-in ticket: its token, and its place if any. */
static void walk_in(struct rider *r)
{
	const struct command *c = command_find("ticket", 6);
	struct control_req req = { .level = LEVEL_STAFF };
	json_object *reply, *res, *v, *note;

	snprintf(req.who, sizeof req.who, "kiosk");
	req.args = json_object_new_object();
	reply = c->fn(&req);
	json_object_put(req.args);
	if (!json_object_object_get_ex(reply, "result", &res))
		fail_msg("ticket: %s", json_object_to_json_string(reply));
	assert_true(json_object_object_get_ex(res, "token", &v));
	snprintf(r->token, sizeof r->token, "%s", json_object_get_string(v));
	assert_true(json_object_object_get_ex(res, "subject", &v));
	snprintf(r->user, sizeof r->user, "%s", json_object_get_string(v));
	assert_true(json_object_object_get_ex(res, "queue", &note));
	if (json_object_object_get_ex(note, "ticket", &v)) {
		r->ticket = json_object_get_int64(v);
		json_object_object_get_ex(note, "eta_s", &v);
		r->eta_s = json_object_get_int(v);
		json_object_object_get_ex(note, "waits_for_charging", &v);
		r->waits = json_object_get_boolean(v);
		r->eta_here_s = r->eta_s;
		r->joined_ms = now_ms();
	} else {
		assert_true(json_object_object_get_ex(note, "error", &v));
		snprintf(r->last_refusal, sizeof r->last_refusal, "%s", json_object_get_string(v));
	}
	json_object_put(reply);
	r->phase = P_KIOSK;
	r->kiosk_ms = now_ms();
	r->next_ms = now_ms() + uniform(10, 30) * 1000LL;
}

/* A fleet rider's S token, as the app shows it. */
static void issue_token(struct rider *r)
{
	station_token(TOKEN_SWAP, r->user, "-", r->nonce, r->token);
}

static void on_road(struct rider *r)
{
	struct queue_place p;
	const char *left = departure(r->ticket);

	if (*left) {
		finish(r, "left:%s", left);
		return;
	}
	if (!r->approached) {
		assert_int_equal(queue_arrival(r->ticket, uniform(600, 950), &p), QUEUE_OK);
		r->approached = true;
		r->next_ms = r->arrive_ms;
		return;
	}
	assert_int_equal(queue_arrival(r->ticket, uniform(0, 80), &p), QUEUE_OK);
	r->eta_here_s = p.eta_s;
	issue_token(r);
	r->phase = P_KIOSK;
	r->kiosk_ms = now_ms();
	r->next_ms = now_ms() + uniform(20, 60) * 1000LL;
}

/* A rider told to wait looks at the kiosk's screen: with a place, they
 * scan again when their ETA has come, but at least every 5 minutes and
 * not before half a minute; without one, every minute or two. */
static int retry_s(const struct rider *r)
{
	struct queue_place p;

	if (!r->ticket || !queue_find(r->ticket, &p))
		return uniform(60, 120);
	return p.eta_s < 30 ? uniform(30, 45) : p.eta_s > 300 ? uniform(240, 300) : p.eta_s;
}

/* At the kiosk: scan; told to wait, scan again later, until patience runs
 * out. */
static void at_kiosk(struct rider *r)
{
	struct token tok;
	const char *left = r->ticket ? departure(r->ticket) : "";

	if (*left && strcmp(left, "served") != 0) {
		finish(r, "left:%s", left);
		return;
	}
	if (now_ms() - r->kiosk_ms > r->patience_s * 1000LL) {
		/* the app has a cancel button; a walk-in just goes */
		if (r->kind == FLEET && r->ticket)
			assert_int_equal(queue_cancel(r->ticket), QUEUE_OK);
		finish(r, "gave_up:%s", r->last_refusal);
		return;
	}
	last_started = 0;
	const char *res = access_scan(r->token, strlen(r->token), "scanner", &tok);
	if (strcmp(res, "ok") == 0) {
		assert_true(last_started > 0);
		assert_string_equal(swaps[last_started].user, r->user);
		r->swap = last_started;
		r->started_ms = now_ms();
		r->phase = P_IN;
		r->next_ms = now_ms() + uniform(2, 6) * 1000LL;
		return;
	}
	count_refusal(res);
	snprintf(r->last_refusal, sizeof r->last_refusal, "%s", res);
	r->next_ms = now_ms() + retry_s(r) * 1000LL;
}

static struct store_swap row(int64_t id)
{
	struct store_swap s;
	bool found;

	assert_int_equal(store_swap_get(station_store, id, &s, &found), SW_OK);
	assert_true(found);
	return s;
}

/* At the doors: the flat battery in once its door is open to them, the
 * charged one out once that door is; then the swap's end. */
static void at_doors(struct rider *r)
{
	struct store_swap s = row(r->swap);

	if (swaps[r->swap].ended) {
		if (strcmp(s.result, "completed") == 0)
			finish(r, "served");
		else
			finish(r, "aborted:%s", s.reason);
		return;
	}
	if (r->phase == P_IN && strcmp(swaps[r->swap].stage, "wait_insert") == 0) {
		if (station_sim_try("{\"op\":\"return\",\"slot\":%d,\"battery\":%llu,\"soc\":%d,\"soh\":%d,"
			    "\"dwell\":%d}", s.slot_in, (unsigned long long)r->battery, r->soc, r->soh,
			    uniform(2, 5)))
			r->phase = P_OUT;
	} else if (r->phase == P_OUT && strcmp(swaps[r->swap].stage, "wait_take") == 0) {
		if (station_sim_try("{\"op\":\"take\",\"slot\":%d,\"dwell\":%d}", s.slot_out, uniform(2, 4)))
			r->phase = P_ENDING;
	}
	r->next_ms = now_ms() + 1000;
}

static void step(struct rider *r)
{
	switch (r->phase) {
	case P_AWAY:
		if (r->kind == FLEET)
			reserve(r);
		else
			walk_in(r);
		break;
	case P_ROAD:
		on_road(r);
		break;
	case P_KIOSK:
		at_kiosk(r);
		break;
	case P_IN:
	case P_OUT:
	case P_ENDING:
		at_doors(r);
		break;
	case P_DONE:
		break;
	}
}

static int waiting_in_queue(void)
{
	json_object *j = queue_json(), *v;

	assert_true(json_object_object_get_ex(j, "waiting", &v));
	int n = json_object_get_int(v);
	json_object_put(j);
	return n;
}

static bool everyone_done(void)
{
	for (int k = 0; k < NRIDERS; k++)
		if (riders[k].phase != P_DONE)
			return false;
	return true;
}

/* The first column of the first row of sql, on a connection of our own
 * (as the MQTT sender or an engineer would read). */
static int64_t sql_int(const char *fmt, ...)
{
	char sql[512];
	va_list ap;
	sqlite3 *h;
	sqlite3_stmt *st;
	int64_t v = -1;

	va_start(ap, fmt);
	vsnprintf(sql, sizeof sql, fmt, ap);
	va_end(ap);
	assert_int_equal(sqlite3_open_v2(station_db, &h, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
	if (sqlite3_prepare_v2(h, sql, -1, &st, NULL) != SQLITE_OK)
		fail_msg("%s: %s", sql, sqlite3_errmsg(h));
	if (sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	sqlite3_close(h);
	return v;
}

static int64_t outbox_count(const char *type, const char *field, const char *value)
{
	return sql_int("SELECT count(*) FROM outbox WHERE type = '%s' AND"
		       " CAST(json_extract(payload, '$.%s') AS TEXT) = '%s'", type, field, value);
}

/* Every door shut and locked, read from the simulator's own bolts; every
 * battery the simulator has is where the ledger says: in its slot, or with
 * the rider whose completed swap handed it out; and the ledger has no
 * battery more. */
static void check_rack_and_ledger(void)
{
	char why[256];
	json_object *l = rack_bus_sim_exec("{\"op\":\"list\"}", why, sizeof why), *slots, *bats, *v;

	if (!l)
		fail_msg("list: %s", why);
	assert_true(json_object_object_get_ex(l, "slots", &slots));
	for (size_t k = 0; k < json_object_array_length(slots); k++) {
		json_object *s = json_object_array_get_idx(slots, k);
		assert_true(json_object_object_get_ex(s, "door_open", &v));
		if (json_object_get_boolean(v))
			fail_msg("slot %zu: the door is open", k + 1);
		assert_true(json_object_object_get_ex(s, "lock_closed", &v));
		if (!json_object_get_boolean(v))
			fail_msg("slot %zu: not locked", k + 1);
	}
	assert_true(json_object_object_get_ex(l, "batteries", &bats));
	for (size_t k = 0; k < json_object_array_length(bats); k++) {
		json_object *b = json_object_array_get_idx(bats, k);
		struct store_battery row;
		bool found;
		assert_true(json_object_object_get_ex(b, "id", &v));
		uint64_t id = (uint64_t)json_object_get_int64(v);
		assert_true(json_object_object_get_ex(b, "slot", &v));
		int slot = json_object_get_int(v);
		assert_int_equal(store_battery_get(station_store, id, &row, &found), SW_OK);
		if (!found)
			fail_msg("BAT-%05llu is not in the ledger", (unsigned long long)id);
		if (slot > 0 && (strcmp(row.place, "slot") != 0 || row.slot != slot))
			fail_msg("BAT-%05llu is in slot %d, the ledger says %s %d", (unsigned long long)id,
				 slot, row.place, row.slot);
		if (slot == 0 && (strcmp(row.place, "rider") != 0 ||
				  sql_int("SELECT count(*) FROM swaps WHERE battery_out = %llu AND id = %lld"
					  " AND result = 'completed' AND user = '%s'", (unsigned long long)id,
					  (long long)row.swap, row.holder) != 1))
			fail_msg("BAT-%05llu left the rack, the ledger says %s %s", (unsigned long long)id,
				 row.place, row.holder);
	}
	assert_int_equal(sql_int("SELECT count(*) FROM batteries"), json_object_array_length(bats));
	json_object_put(l);
}

/* What the fleet heard: swap.started and swap.completed for every rider
 * served, queue.joined and queue.left for every rider who had a place,
 * nothing for those who had none. */
static void check_outbox(void)
{
	char ticket[24];

	for (int k = 0; k < NRIDERS; k++) {
		const struct rider *r = &riders[k];
		bool served = strcmp(r->outcome, "served") == 0;
		assert_int_equal(outbox_count("swap.started", "user", r->user), served);
		assert_int_equal(outbox_count("swap.completed", "user", r->user), served);
		snprintf(ticket, sizeof ticket, "%lld", (long long)r->ticket);
		if (!r->ticket) {
			assert_int_equal(outbox_count("queue.joined", "user", r->user), 0);
			continue;
		}
		assert_int_equal(outbox_count("queue.joined", "ticket", ticket), 1);
		assert_int_equal(outbox_count("queue.left", "ticket", ticket), 1);
		if (served)
			assert_string_equal(departure(r->ticket), "served");
	}
}

static int cmp_int(const void *a, const void *b)
{
	return (*(const int *)a > *(const int *)b) - (*(const int *)a < *(const int *)b);
}

static void print_spread(const char *what, int *errs, int nerr)
{
	qsort(errs, (size_t)nerr, sizeof errs[0], cmp_int);
	if (nerr)
		printf("|eta - wait| %s, over %d served with a place: median %d s, p90 %d s\n", what,
		       nerr, errs[nerr / 2], errs[nerr * 9 / 10]);
}

static void print_outcomes(void)
{
	printf("outcomes:");
	for (int k = 0; k < NRIDERS; k++) {
		int seen = 0, same = 0;
		for (int j = 0; j < k; j++)
			seen |= strcmp(riders[j].outcome, riders[k].outcome) == 0;
		for (int j = k; j < NRIDERS && !seen; j++)
			same += strcmp(riders[j].outcome, riders[k].outcome) == 0;
		if (!seen)
			printf(" %s %d", riders[k].outcome, same);
	}
	printf("\nrefusals told at the kiosk (scans):");
	for (int k = 0; k < nrefusals; k++)
		printf(" %s %d", refusals[k].reason, refusals[k].n);
	printf("\n");
}

/* Each rider's ETA at the join and at the kiosk ("c": waits for
 * charging) beside the waits that happened, from the join and from the
 * kiosk to the swap's start; and the summary. Returns how many were
 * served. */
static int print_report(void)
{
	int join[NRIDERS], here[NRIDERS], nerr = 0, served = 0;

	printf("busy hour: %d riders, %d slots, %d charged at the start, charge.current_a %d,"
	       " queue.charge_s %d\n", NRIDERS, NSLOTS, NCHARGED, station_cfg.charge.current_a,
	       station_cfg.queue.charge_s);
	printf("%-16s %-6s %6s %6s %7s %6s %7s %6s  %s\n", "rider", "kind", "appear", "ticket",
	       "eta", "wait", "eta@k", "wait@k", "outcome");
	for (int k = 0; k < NRIDERS; k++) {
		const struct rider *r = &riders[k];
		char eta[24] = "-", wait[24] = "-", eta_k[24] = "-", wait_k[24] = "-";
		if (r->ticket)
			snprintf(eta, sizeof eta, "%d%s", r->eta_s, r->waits ? "c" : "");
		if (r->ticket && r->kiosk_ms)
			snprintf(eta_k, sizeof eta_k, "%d", r->eta_here_s);
		if (r->swap) {
			int w = (int)((r->started_ms - r->joined_ms) / 1000);
			int wk = (int)((r->started_ms - r->kiosk_ms) / 1000);
			if (r->ticket) {
				snprintf(wait, sizeof wait, "%d", w);
				join[nerr] = abs(r->eta_s - w);
				here[nerr++] = abs(r->eta_here_s - wk);
			}
			snprintf(wait_k, sizeof wait_k, "%d", wk);
			served += strcmp(r->outcome, "served") == 0;
		}
		printf("%-16s %-6s %6lld %6lld %7s %6s %7s %6s  %s\n", r->user,
		       r->kind == FLEET ? "fleet" : "walkin", (long long)r->appear_ms / 1000,
		       (long long)r->ticket, eta, wait, eta_k, wait_k, r->outcome);
	}
	printf("served %d of %d\n", served, NRIDERS);
	print_outcomes();
	print_spread("from the join", join, nerr);
	print_spread("from the kiosk", here, nerr);
	printf("simulated %lld s (the hour and its tail)\n", (long long)now_ms() / 1000);
	return served;
}

static void test_busy_hour(void **state)
{
	(void)state;
	log_set_level(LOG_WARNING); /* the riders' table is what this test shows */
	make_riders();
	t0 = loop_now();
	while (!everyone_done() || waiting_in_queue() > 0) {
		if (now_ms() > (HOUR_S + TAIL_S) * 1000LL) {
			print_report();
			fail_msg("not over after the hour and a %d s tail: %d waiting", TAIL_S,
				 waiting_in_queue());
		}
		for (int k = 0; k < NRIDERS; k++)
			if (riders[k].phase != P_DONE && now_ms() >= riders[k].next_ms)
				step(&riders[k]);
		station_run_ms(STEP_MS);
	}
	station_run_ms(5000);
	int served = print_report();

	/* the charged stock at least went out, and nobody's swap failed */
	assert_true(served >= NCHARGED);
	for (int k = 0; k < NRIDERS; k++)
		if (strncmp(riders[k].outcome, "aborted:", 8) == 0)
			fail_msg("%s: %s", riders[k].user, riders[k].outcome);
	/* no swap unfinished, no slot held with no swap */
	assert_int_equal(sql_int("SELECT count(*) FROM swaps WHERE ended_at IS NULL"), 0);
	for (int i = 0; i < NSLOTS; i++)
		if (slots_holder(i, NULL))
			fail_msg("slot %d is held by %s", i + 1, slots_holder(i, NULL));
	check_rack_and_ledger();
	check_outbox();
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_busy_hour, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
