/* Transport jobs: their announcement (transport.job, the transport-job
 * command), their expiry, the check of a T token against its job and the
 * choice of the slots it opens, and the transports listing. What a started
 * job does with its doors and batteries is transport_run.c's. */
#include "daemon/transport.h"
#include "daemon/transport_priv.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/access.h"
#include "daemon/control.h"
#include "daemon/fault.h"
#include "daemon/health.h"
#include "daemon/log.h"
#include "daemon/loop.h"
#include "daemon/slots.h"
#include "daemon/store_transport.h"
#include "drivers/rack.h"

struct store *transport_store;
char transport_boot[33];
struct config_transport transport_cfg;
int transport_quarantine_soh;

static bool running;
static struct loop_timer expiry_timer;
/* Expiry is checked at least this often, whatever the wall clock did. */
#define EXPIRY_CHECK_MAX_MS (3600 * 1000)
/* The highest slot number (config.c: 1..999). */
#define SLOT_NO_MAX 999

static int64_t now_s(void)
{
	return loop_wall_ms() / 1000;
}

static void arm_expiry(void)
{
	int64_t exp = 0, delay = EXPIRY_CHECK_MAX_MS;

	/* due the second after exp: a job expires when exp is past */
	if (store_transport_next_exp(transport_store, &exp) == SW_OK && exp)
		delay = (exp + 1) * 1000 - loop_wall_ms();
	loop_timer_arm(&expiry_timer, delay < 0 ? 0 : delay > EXPIRY_CHECK_MAX_MS ? EXPIRY_CHECK_MAX_MS : delay);
}

/* A job not started by its exp is closed: its token opens nothing. */
static void expiry_tick(void *arg)
{
	(void)arg;
	store_transport_expire(transport_store, now_s(), NULL); /* a failure is the store's health */
	arm_expiry();
}

/* A battery id: 42, "42" or "BAT-00042"; 0 when it is none. */
static uint64_t battery_id(json_object *v)
{
	if (json_object_is_type(v, json_type_int)) {
		int64_t n = json_object_get_int64(v);
		return n > 0 ? (uint64_t)n : 0;
	}
	if (!json_object_is_type(v, json_type_string))
		return 0;
	const char *s = json_object_get_string(v);
	if (strncmp(s, "BAT-", 4) == 0)
		s += 4;
	size_t len = strlen(s);
	if (len < 1 || len > 20 || strspn(s, "0123456789") != len)
		return 0;
	errno = 0;
	unsigned long long n = strtoull(s, NULL, 10);
	return errno ? 0 : (uint64_t)n;
}

/* The string form of pickup (swapctl's): "2", or "BAT-00042,43". */
static json_object *pickup_from_text(const char *s)
{
	size_t len = strlen(s);

	/* digits alone are a count; a single battery is written BAT-00042 */
	if (len && strspn(s, "0123456789") == len)
		return json_object_new_int(len > 3 ? 1000 : atoi(s));
	json_object *a = json_object_new_array();
	for (const char *p = s; *p;) {
		size_t n = strcspn(p, ",");
		json_object_array_add(a, json_object_new_string_len(p, (int)n));
		p += n + (p[n] == ',');
	}
	return a;
}

/* j->pickup and its ids from pickup; NULL, or what is wrong with it. */
static const char *parse_pickup(json_object *v, struct store_transport_job *j)
{
	json_object *text = NULL;
	const char *bad = NULL;

	if (json_object_is_type(v, json_type_string))
		v = text = pickup_from_text(json_object_get_string(v));
	if (json_object_is_type(v, json_type_int)) {
		int64_t n = json_object_get_int64(v);
		j->pickup = (int)n;
		bad = n < 0 || n > STORE_TRANSPORT_MAX ? "\"pickup\": a count must be 0..99" : NULL;
	} else if (!json_object_is_type(v, json_type_array)) {
		bad = "\"pickup\": must be a count or an array of battery ids";
	} else if (json_object_array_length(v) < 1 || json_object_array_length(v) > STORE_TRANSPORT_MAX) {
		bad = "\"pickup\": 1 to 99 battery ids";
	}
	for (size_t k = 0; !bad && json_object_is_type(v, json_type_array) &&
			   k < json_object_array_length(v); k++) {
		uint64_t id = battery_id(json_object_array_get_idx(v, k));
		for (int m = 0; m < j->npickup_ids && id; m++)
			if (j->pickup_ids[m] == id)
				bad = "\"pickup\": a battery id twice";
		if (!id)
			bad = "\"pickup\": a battery id is \"BAT-00042\" or a positive number";
		j->pickup_ids[j->npickup_ids++] = id;
		j->pickup = j->npickup_ids;
	}
	json_object_put(text);
	return bad;
}

/* The job of args, checked; NULL, or what is wrong with it. */
static const char *parse_job(json_object *args, struct store_transport_job *j)
{
	json_object *job, *pickup, *dropoff, *exp;

	memset(j, 0, sizeof *j);
	if (!json_object_object_get_ex(args, "job", &job) || !json_object_is_type(job, json_type_string))
		return "\"job\": must be a string";
	const char *name = json_object_get_string(job);
	size_t len = strlen(name);
	/* the T token's subject (token.md) */
	if (len < 1 || len > 32 ||
	    strspn(name, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-") != len)
		return "\"job\": 1 to 32 of A-Z a-z 0-9 _ -";
	snprintf(j->job, sizeof j->job, "%s", name);
	if (!json_object_object_get_ex(args, "pickup", &pickup))
		return "\"pickup\" is missing";
	const char *bad = parse_pickup(pickup, j);
	if (bad)
		return bad;
	if (!json_object_object_get_ex(args, "dropoff", &dropoff) ||
	    !json_object_is_type(dropoff, json_type_int) || json_object_get_int64(dropoff) < 0 ||
	    json_object_get_int64(dropoff) > STORE_TRANSPORT_MAX)
		return "\"dropoff\": must be a count 0..99";
	j->dropoff = (int)json_object_get_int64(dropoff);
	if (!json_object_object_get_ex(args, "exp", &exp) || !json_object_is_type(exp, json_type_int))
		return "\"exp\": must be Unix seconds";
	j->exp = json_object_get_int64(exp);
	if (j->pickup + j->dropoff == 0)
		return "a job picks up or drops off at least one battery";
	return NULL;
}

const char *transport_job(json_object *args, const char *by, char *msg, size_t msglen)
{
	struct store_transport_job j, had;
	bool found;
	char detail[96];

	if (!running) {
		snprintf(msg, msglen, "this station has no rack");
		return "no_rack";
	}
	const char *bad = parse_job(args, &j);
	if (bad) {
		snprintf(msg, msglen, "%s", bad);
		return "bad_request";
	}
	if (j.exp <= now_s()) {
		snprintf(msg, msglen, "job %s expired at %lld", j.job, (long long)j.exp);
		return "expired";
	}
	/* asked before writing: a refusal is no store failure */
	if (store_transport_get(transport_store, j.job, &had, &found) != SW_OK) {
		snprintf(msg, msglen, "the job could not be read");
		return "store_failed";
	}
	if (found && strcmp(had.state, "announced") != 0) {
		snprintf(msg, msglen, "job %s is %s already", j.job, had.state);
		return "duplicate";
	}
	snprintf(detail, sizeof detail, "%s p%d d%d exp %lld", j.job, j.pickup, j.dropoff,
		 (long long)j.exp);
	store_tx_begin(transport_store);
	store_transport_announce(transport_store, &j, NULL);
	store_audit(transport_store, by, "transport-job", detail, NULL);
	if (store_tx_commit(transport_store, "announcing a transport job") != SW_OK) {
		snprintf(msg, msglen, "the job could not be recorded");
		return "store_failed";
	}
	log_msg(LOG_NOTICE, "transport %s: announced: %s", j.job, detail);
	arm_expiry();
	return NULL;
}

/* The token's job and the slots it opens, from its check to its start. */
static struct {
	int64_t id;
	char job[33];
	int n;
	struct transport_slot s[RACK_MAX_SLOTS];
} plan;

/* Slot numbers out of service (store_slots_out). */
static bool out_of_service[SLOT_NO_MAX + 1];

static void mark_out(int slot, const char *reason, void *arg)
{
	(void)reason;
	(void)arg;
	if (slot >= 0 && slot <= SLOT_NO_MAX)
		out_of_service[slot] = true;
}

/* A slot a job may open: in service, held by no swap or job, its
 * controller answering, its door shut and locked (a door that works). */
static bool usable(int i)
{
	const struct rack_reading *r = rack_reading(i);

	return !out_of_service[slots_number(i)] && !slots_holder(i, NULL) && r->online && r->fast_at &&
	       !(r->have[RF_DOOR] && r->door_open) && !(r->have[RF_LOCK] && !r->locked);
}

struct candidate {
	int i;
	bool quarantined;
	double soh;
	uint64_t battery;
};

/* Quarantined first; then the lowest SOH (worn batteries go back to the
 * depot first; unknown counts as lowest); then the slot order. */
static int by_pickup_order(const void *a, const void *b)
{
	const struct candidate *x = a, *y = b;

	if (x->quarantined != y->quarantined)
		return x->quarantined ? -1 : 1;
	if (x->soh != y->soh)
		return x->soh < y->soh ? -1 : 1;
	return x->i - y->i;
}

/* The batteries a job could pick up now, in pickup order, or its listed
 * ones that are here, in the list's order. */
static int pickup_candidates(const struct store_transport_job *j, struct candidate *c)
{
	struct store_battery b;
	bool found;
	int n = 0;

	for (int i = 0; i < slots_count(); i++) {
		const struct rack_reading *r = rack_reading(i);
		if (!usable(i) || !r->present || r->health_pending || !r->have[RF_BATTERY_ID] ||
		    !r->battery_id)
			continue;
		bool q = slots_state(i) == SLOT_FAULT || slots_state(i) == SLOT_QUARANTINED ||
			 (store_battery_get(transport_store, r->battery_id, &b, &found) == SW_OK &&
			  found && b.quarantined);
		c[n++] = (struct candidate){ i, q, r->have[RF_SOH] ? r->soh : -1, r->battery_id };
	}
	if (!j->npickup_ids) {
		qsort(c, (size_t)n, sizeof c[0], by_pickup_order);
		return n;
	}
	int listed = 0;
	for (int k = 0; k < j->npickup_ids; k++)
		for (int m = listed; m < n; m++)
			if (c[m].battery == j->pickup_ids[k]) {
				struct candidate t = c[listed];
				c[listed++] = c[m];
				c[m] = t;
				break;
			}
	return listed;
}

/* The slots tok opens: up to its count of pickups (fewer when fewer are
 * here: transport.completed tells what left), and its count of empty
 * slots for drop-offs, which the pickup slots make up for once emptied.
 * NULL, or why the token opens nothing. */
static const char *make_plan(const struct store_transport_job *j, const struct token *tok)
{
	struct candidate c[RACK_MAX_SLOTS];

	memset(out_of_service, 0, sizeof out_of_service);
	if (store_slots_out(transport_store, mark_out, NULL) != SW_OK)
		return "store_failed";
	int npick = pickup_candidates(j, c);
	plan.n = 0;
	for (int k = 0; k < npick && k < tok->pickup; k++)
		plan.s[plan.n++] = (struct transport_slot){ c[k].i, true, c[k].battery, false };
	int picks = plan.n, free_slots = 0;
	/* no fresh battery into a slot a fault of its own blocks; a battery
	 * may still leave one: that is how faulty batteries go */
	for (int i = 0; i < slots_count(); i++) {
		if (!usable(i) || slots_state(i) != SLOT_EMPTY || rack_reading(i)->present ||
		    fault_blocks_own_slot(slots_number(i)))
			continue;
		if (free_slots++ < tok->dropoff)
			plan.s[plan.n++] = (struct transport_slot){ i, false, 0, false };
	}
	if (free_slots + picks < tok->dropoff)
		return "no_free_slot";
	return plan.n ? NULL : "no_battery";
}

/* A T token's check (access.h): its job, the station, and the slots. */
static const char *check(const struct token *tok, void *arg)
{
	struct store_transport_job j;
	bool found;

	(void)arg;
	plan.n = 0;
	if (health_get("estop") == HEALTH_FAILED)
		return "estop";
	if (health_get("store") == HEALTH_FAILED || store_check(transport_store) != SW_OK)
		return "store_failed";
	if (store_transport_get(transport_store, tok->subject, &j, &found) != SW_OK)
		return "store_failed";
	/* as for a swap (FAULTS.md): mains lost, the bus gone, the disk full */
	if (fault_blocks_station())
		return "unsafe";
	if (!found)
		return "unknown_job";
	if (strcmp(j.state, "started") == 0)
		return "job_started";
	if (strcmp(j.state, "completed") == 0)
		return "job_done";
	if (strcmp(j.state, "expired") == 0 || j.exp < now_s())
		return "job_expired";
	/* the token may do part of its job, never more */
	if (tok->pickup > j.pickup || tok->dropoff > j.dropoff || tok->pickup + tok->dropoff == 0)
		return "wrong_counts";
	if (transport_runs_full())
		return "busy";
	plan.id = j.id;
	snprintf(plan.job, sizeof plan.job, "%s", j.job);
	return make_plan(&j, tok);
}

/* In the scan's transaction: the job started, with its slots. */
static enum sw_err record(const struct token *tok, void *arg)
{
	struct store_transport_slot s[RACK_MAX_SLOTS];

	(void)arg;
	for (int k = 0; k < plan.n; k++) {
		s[k] = (struct store_transport_slot){ .slot = slots_number(plan.s[k].i),
						      .battery = plan.s[k].battery };
		snprintf(s[k].role, sizeof s[k].role, "%s", plan.s[k].pickup ? "pickup" : "dropoff");
	}
	return store_transport_start(transport_store, plan.id, tok->nonce, tok->pickup, tok->dropoff,
				     s, plan.n, NULL);
}

/* The decision is on disk (or not): only then do the doors open. */
static void done(const struct token *tok, bool committed, void *arg)
{
	(void)arg;
	if (committed)
		transport_run_begin(plan.id, plan.job, plan.s, plan.n);
	else
		log_msg(LOG_ERR, "transport %s: not started: its start could not be recorded", tok->subject);
	plan.n = 0;
}

static json_object *cmd_transport_job(const struct control_req *req)
{
	char msg[160];
	const char *code = transport_job(req->args, req->who, msg, sizeof msg);

	if (code)
		return control_error(code, "%s", msg);
	json_object *r = json_object_new_object();
	json_object_object_add(r, "job", json_object_new_string(control_arg_str(req, "job")));
	json_object_object_add(r, "state", json_object_new_string("announced"));
	return control_ok(r);
}

static json_object *cmd_transports(const struct control_req *req)
{
	json_object *jobs = store_transport_json(transport_store, (int)control_arg_int(req, "limit", 20));
	json_object *r = json_object_new_object(), *id, *doors;

	/* a running job's doors, as they are now */
	for (size_t k = 0; k < json_object_array_length(jobs); k++) {
		json_object *o = json_object_array_get_idx(jobs, k);
		if (json_object_object_get_ex(o, "id", &id) &&
		    transport_run_phases(json_object_get_int64(id), &doors))
			json_object_object_add(o, "doors", doors);
	}
	json_object_object_add(r, "jobs", jobs);
	return control_ok(r);
}

/* 99 ids "BAT-" and 20 digits, with their commas */
#define PICKUP_TEXT_MAX (STORE_TRANSPORT_MAX * 25)

static const struct command transport_commands[] = {
	{ .name = "transport-job", .level = LEVEL_ADMIN, .fn = cmd_transport_job,
	  .help = "announce a transport job: pickup a count or battery ids \"BAT-00042,BAT-00043\" (audited)",
	  .args = { { "job", ARG_STRING, .required = true, .min = 1, .max = 32 },
		    { "pickup", ARG_STRING, .required = true, .min = 1, .max = PICKUP_TEXT_MAX },
		    { "dropoff", ARG_INT, .required = true, .min = 0, .max = STORE_TRANSPORT_MAX },
		    { "exp", ARG_INT, .required = true, .min = 0, .max = INT64_MAX } } },
	{ .name = "transports", .level = LEVEL_VIEWER, .fn = cmd_transports,
	  .help = "transport jobs, newest first: state, slots, batteries moved",
	  .args = { { "limit", ARG_INT, .min = 1, .max = 100 } } },
};

enum sw_err transport_start(const struct config *cfg, struct store *st, const char *boot,
			    char *why, size_t whylen)
{
	transport_store = st;
	transport_cfg = cfg->transport;
	transport_quarantine_soh = cfg->ledger.quarantine_soh;
	snprintf(transport_boot, sizeof transport_boot, "%s", boot);
	if (!slots_count())
		return SW_OK;
	enum sw_err e = command_register(transport_commands, COMMAND_ROWS(transport_commands), why, whylen);
	if (e == SW_OK)
		e = transport_runs_start(why, whylen);
	if (e != SW_OK)
		return e;
	access_set_claim(TOKEN_TRANSPORT, &(struct access_claim){ check, record, done, NULL });
	loop_timer_init(&expiry_timer, expiry_tick, NULL);
	loop_timer_arm(&expiry_timer, 0); /* those that expired while swapd was down */
	running = true;
	return SW_OK;
}

void transport_reconfigure(const struct config *cfg)
{
	transport_cfg = cfg->transport;
	transport_quarantine_soh = cfg->ledger.quarantine_soh;
}

void transport_stop(void)
{
	running = false;
	access_set_claim(TOKEN_TRANSPORT, NULL);
	transport_runs_stop();
	loop_timer_cancel(&expiry_timer);
}
