#include "daemon/access.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "daemon/control.h"
#include "daemon/event.h"
#include "daemon/health.h"
#include "daemon/log.h"
#include "daemon/loop.h"
#include "drivers/scanner.h"

#define PURGE_INTERVAL_MS (3600 * 1000)

static struct config_tokens tc;   /* a copy: a reload frees the config */
static char station[25];
static char boot_id[33];
static struct store *store;
static struct token_keyring ring;
static struct loop_timer purge_timer;
static bool have_scanner;
static int64_t last_verify_us, last_record_us;
static struct access_claim claims[3]; /* S, B, T */
static bool have_claim[3];
static json_object *(*ticket_note)(const char *nonce, void *arg);
static void *ticket_note_arg;

static int claim_index(enum token_kind k)
{
	return k == TOKEN_SWAP ? 0 : k == TOKEN_BADGE ? 1 : 2;
}

void access_set_ticket_note(json_object *(*note)(const char *nonce, void *arg), void *arg)
{
	ticket_note = note;
	ticket_note_arg = arg;
}

void access_set_claim(enum token_kind kind, const struct access_claim *c)
{
	int k = claim_index(kind);

	have_claim[k] = c != NULL;
	if (c)
		claims[k] = *c;
}

static int64_t mono_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

void access_last_timing(int64_t *verify_us, int64_t *record_us)
{
	*verify_us = last_verify_us;
	*record_us = last_record_us;
}

static int64_t now_s(void)
{
	return (int64_t)time(NULL);
}

/* The store answers steps 7 and 8; when it cannot, the answer is "yes",
 * so a broken store refuses tokens rather than letting a reused one in. */
static bool is_revoked(const char *nonce, void *ctx)
{
	bool r;

	(void)ctx;
	return store_token_revoked(store, nonce, &r) != SW_OK || r;
}

static bool is_used(const char *nonce, void *ctx)
{
	bool r;

	(void)ctx;
	return store_token_used(store, nonce, &r) != SW_OK || r;
}

static void policy(struct token_policy *p)
{
	token_policy_defaults(p);
	p->station = station;
	p->now = now_s();
	p->skew = tc.skew_s;
	p->max_life_s = tc.life_swap_s;
	p->max_life_t = tc.life_transport_s;
	p->max_life_b = tc.life_badge_s;
	p->keys = &ring;
	p->is_revoked = is_revoked;
	p->is_used = is_used;
}

/* Records a scan, and for a rejected token its token.rejected event (token.md:
 * every rejection is an audit event with its reason; mqtt.md: never the mac
 * or the whole token). An unreadable scanner line is no token: the fleet
 * hears nothing of it. */
static enum sw_err record_scan(const struct store_scan *rec, bool is_token)
{
	json_object *f = NULL;

	/* A valid token refused for the station's sake (a claimer's reason)
	 * is no rejection of the token: it stays unused and good. */
	if (is_token && strcmp(rec->result, "ok") != 0 && token_reason_known(rec->result)) {
		bool parsed = rec->kind[0] != '\0';
		f = json_object_new_object();
		json_object_object_add(f, "kind", parsed ? json_object_new_string(rec->kind) : NULL);
		json_object_object_add(f, "subject", parsed ? json_object_new_string(rec->subject) : NULL);
		json_object_object_add(f, "nonce", parsed ? json_object_new_string(rec->nonce) : NULL);
		json_object_object_add(f, "reason", json_object_new_string(rec->result));
	}
	enum sw_err e = store_scan(store, rec, tc.scan_history,
				   f ? &(struct store_event){ "token.rejected", boot_id, f } : NULL);
	json_object_put(f);
	return e;
}

/* A token with a claimer: it decides first; its records join the one
 * transaction with the scan and the mark, and it acts once that is on
 * disk. A refusal is recorded as the scan's result, the token unmarked. */
static enum sw_err claim(struct store_scan *rec, const struct token *tok)
{
	const struct access_claim *c = &claims[claim_index(tok->kind)];
	const char *refused = c->check(tok, c->arg);

	if (refused) {
		rec->result = refused;
		rec->mark_used = false;
		return record_scan(rec, true);
	}
	store_tx_begin(store);
	enum sw_err e = record_scan(rec, true);
	if (e == SW_OK)
		e = c->record(tok, c->arg);
	enum sw_err ce = store_tx_commit(store, "recording a claimed scan");
	if (e == SW_OK)
		e = ce;
	c->done(tok, e == SW_OK, c->arg);
	return e;
}

const char *access_scan(const char *line, size_t len, const char *source, struct token *tok)
{
	struct token_policy p;
	struct store_scan rec = { .source = source };
	int64_t t0 = mono_us();

	/* Without a tokens section the keyring is empty, and the contract's
	 * own steps say what every scan is then: malformed or unknown_key. */
	memset(tok, 0, sizeof *tok);
	len = token_trim_scan(line, len);
	policy(&p);
	enum token_reason why = token_verify(line, len, &p, tok);
	int64_t t1 = mono_us();
	if (why != TOKEN_MALFORMED) { /* the fields are known from step 1 on */
		rec.kind[0] = (char)tok->kind;
		snprintf(rec.subject, sizeof rec.subject, "%s", tok->subject);
		snprintf(rec.nonce, sizeof rec.nonce, "%s", tok->nonce);
		rec.exp = tok->exp;
	} else {
		memset(tok, 0, sizeof *tok);
	}
	rec.result = token_reason_str(why);
	rec.mark_used = why == TOKEN_OK && tok->kind != TOKEN_BADGE;
	enum sw_err e = why == TOKEN_OK && have_claim[claim_index(tok->kind)]
			? claim(&rec, tok) : record_scan(&rec, true);
	if (e == SW_EEXIST) {
		/* marked between the check and now: a replay after all */
		rec.mark_used = false;
		rec.result = token_reason_str(TOKEN_REPLAYED);
		e = record_scan(&rec, true);
	}
	last_verify_us = t1 - t0;
	last_record_us = mono_us() - t1;
	if (e != SW_OK) {
		/* Not durable, so not accepted: nothing may open on it. */
		log_msg(LOG_ERR, "access: a %s scan could not be recorded (%s); refused",
			rec.result, sw_strerror(e));
		rec.result = "store_failed";
	} else {
		log_msg(strcmp(rec.result, "ok") ? LOG_NOTICE : LOG_INFO, "access: %s scan: %s%s%s%s%s",
			source, rec.result, rec.kind[0] ? " kind " : "", rec.kind,
			rec.kind[0] ? " subject " : "", rec.subject);
	}
	/* The decision, as the rest of swapd hears it: accepted only when it
	 * is on disk. */
	struct event ev = { .type = strcmp(rec.result, "ok") ? EV_SCAN_REJECTED : EV_SCAN_ACCEPTED,
			    .slot = -1, .what = rec.result, .who = rec.subject };
	event_publish(&ev);
	return rec.result;
}

static json_object *cmd_scan(const struct control_req *req)
{
	const char *text = control_arg_str(req, "token");
	struct token tok;
	json_object *r;

	const char *result = access_scan(text, strlen(text), "control", &tok);
	int64_t verify_us, record_us;
	access_last_timing(&verify_us, &record_us);
	r = json_object_new_object();
	json_object_object_add(r, "result", json_object_new_string(result));
	json_object_object_add(r, "verify_us", json_object_new_int64(verify_us));
	json_object_object_add(r, "record_us", json_object_new_int64(record_us));
	if (tok.kind) {
		char kind[2] = { (char)tok.kind, 0 };
		json_object_object_add(r, "kind", json_object_new_string(kind));
		json_object_object_add(r, "subject", json_object_new_string(tok.subject));
		json_object_object_add(r, "nonce", json_object_new_string(tok.nonce));
	}
	return control_ok(r);
}

/* What the scanner read and what became of it: the lines dropped before
 * they were scans are only here, not in the scan record. */
static json_object *scanner_json(void)
{
	struct scanner_stats ss;
	json_object *o = json_object_new_object();

	scanner_stats(&ss);
	json_object_object_add(o, "connected", json_object_new_boolean(ss.connected));
	json_object_object_add(o, "lines", json_object_new_int64((int64_t)ss.lines));
	json_object_object_add(o, "repeats", json_object_new_int64((int64_t)ss.repeats));
	json_object_object_add(o, "too_long", json_object_new_int64((int64_t)ss.too_long));
	json_object_object_add(o, "unprintable", json_object_new_int64((int64_t)ss.unprintable));
	json_object_object_add(o, "rate_limited", json_object_new_int64((int64_t)ss.rate_limited));
	json_object_object_add(o, "disconnects", json_object_new_int64((int64_t)ss.disconnects));
	return o;
}

static json_object *cmd_scans(const struct control_req *req)
{
	json_object *r = json_object_new_object();
	int limit = (int)control_arg_int(req, "limit", 20);

	json_object_object_add(r, "scans", store_scans_recent(store, limit));
	if (have_scanner)
		json_object_object_add(r, "scanner", scanner_json());
	return control_ok(r);
}

json_object *access_issue_walkin(const char *who, const char *user)
{
	struct token t = { .kind = TOKEN_SWAP, .arg = "-" };
	char text[TOKEN_TEXT_MAX + 1], err[160];
	json_object *r;
	int64_t now = now_s();

	if (!tc.enabled || !tc.walkin_kid[0])
		return control_error("not_configured", "walk-in tickets need tokens.walkin_kid");
	if (token_nonce_random(t.nonce) < 0)
		return control_error("internal", "no randomness for a nonce");
	if (user)
		snprintf(t.subject, sizeof t.subject, "%s", user);
	else
		snprintf(t.subject, sizeof t.subject, "walkin-%.8s", t.nonce);
	snprintf(t.station, sizeof t.station, "%s", station);
	snprintf(t.kid, sizeof t.kid, "%s", tc.walkin_kid);
	t.exp = now + tc.walkin_ttl_s;
	if (token_issue(&t, &ring, now, text, sizeof text, err, sizeof err) < 0)
		return control_error("bad_request", "%s", err);
	store_audit(store, who, "ticket", t.nonce, NULL);
	/* The queue hears of it and gives the rider a place (queue.c). */
	struct event ev = { .type = EV_TICKET_ISSUED, .slot = -1, .who = t.subject, .what = t.nonce };
	event_publish(&ev);
	r = json_object_new_object();
	json_object_object_add(r, "token", json_object_new_string(text));
	json_object_object_add(r, "subject", json_object_new_string(t.subject));
	json_object_object_add(r, "nonce", json_object_new_string(t.nonce));
	json_object_object_add(r, "exp", json_object_new_int64(t.exp));
	if (ticket_note)
		json_object_object_add(r, "queue", ticket_note(t.nonce, ticket_note_arg));
	return control_ok(r);
}

static json_object *cmd_ticket(const struct control_req *req)
{
	return access_issue_walkin(req->who, control_arg_str(req, "user"));
}

enum sw_err access_revoke(const char *nonce, int64_t exp, const char *who)
{
	size_t len = strlen(nonce);

	/* the nonce grammar of token.md: 6-22 of A-Z a-z 0-9 _ - */
	if (len < TOKEN_NONCE_MIN || len > TOKEN_NONCE_MAX ||
	    strspn(nonce, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-") != len)
		return SW_EINVAL;
	store_tx_begin(store);
	store_token_revoke(store, nonce, exp, NULL);
	store_audit(store, who, "revoke", nonce, NULL);
	return store_tx_commit(store, "recording a revocation");
}

static json_object *cmd_revoke(const struct control_req *req)
{
	switch (access_revoke(control_arg_str(req, "nonce"), control_arg_int(req, "exp", 0), req->who)) {
	case SW_OK:
		return control_ok(NULL);
	case SW_EINVAL:
		return control_error("bad_request", "\"nonce\": must be A-Z a-z 0-9 _ - only");
	default:
		return control_error("store_failed", "the revocation could not be recorded");
	}
}

/* The longest text a control client may submit as a scan. A token is much
 * shorter (TOKEN_TEXT_MAX); a longer text up to this is still a scan, and
 * recorded as malformed, as it always was. */
#define SCAN_TEXT_MAX 4096

static const struct command access_commands[] = {
	{ .name = "scan", .level = LEVEL_KIOSK, .fn = cmd_scan,
	  .help = "verify a scanned token and record the scan",
	  .args = { { "token", ARG_STRING, .required = true, .min = 0, .max = SCAN_TEXT_MAX } } },
	{ .name = "scans", .level = LEVEL_VIEWER, .fn = cmd_scans,
	  .help = "the latest scans, newest first, and the scanner's counters",
	  .args = { { "limit", ARG_INT, .min = 1, .max = 1000 } } },
};

/* Registered only when tokens are configured. */
static const struct command token_commands[] = {
	{ .name = "ticket", .level = LEVEL_STAFF, .fn = cmd_ticket,
	  .help = "issue a walk-in swap ticket (audited)",
	  .args = { { "user", ARG_STRING, .min = 1, .max = TOKEN_SUBJECT_MAX } } },
	{ .name = "revoke", .level = LEVEL_ADMIN, .fn = cmd_revoke,
	  .help = "revoke a token by its nonce until exp (audited)",
	  .args = { { "nonce", ARG_STRING, .required = true, .min = TOKEN_NONCE_MIN, .max = TOKEN_NONCE_MAX },
	    { "exp", ARG_INT, .required = true, .min = 0, .max = INT64_MAX } } },
};

/* An unreadable scanner line is a scan too, with result "unreadable", so
 * that the kiosk, which follows the scans, can ask for the code again. It is
 * no token, so the fleet hears nothing of it. */
static void scan_unreadable(void)
{
	struct store_scan rec = { .source = "scanner", .result = "unreadable" };
	enum sw_err e = record_scan(&rec, false);

	if (e != SW_OK)
		log_msg(LOG_ERR, "access: an unreadable scan could not be recorded (%s)",
			sw_strerror(e));
	else
		log_msg(LOG_NOTICE, "access: scanner scan: unreadable");
}

/* Each line the kiosk's scanner reads is a scan (token.md: the driver has
 * stripped the CR/LF). */
static void on_scanner_line(const char *line, size_t len, void *arg)
{
	struct token tok;

	(void)arg;
	if (!line)
		scan_unreadable();
	else
		access_scan(line, len, "scanner", &tok);
}

static void purge(void *arg)
{
	(void)arg;
	store_token_purge(store, now_s(), tc.skew_s, NULL);
	loop_timer_arm(&purge_timer, PURGE_INTERVAL_MS);
}

static enum sw_err load_keys(const struct config_tokens *t, char *why, size_t whylen)
{
	struct token_keyring *next = malloc(sizeof *next);

	if (!next)
		return SW_ENOMEM;
	if (token_keys_load(t->keys, next, why, whylen) < 0) {
		token_keyring_clear(next);
		free(next);
		return SW_EINVAL;
	}
	token_keyring_clear(&ring);
	ring = *next;
	token_keyring_clear(next);
	free(next);
	return SW_OK;
}

enum sw_err access_start(const struct config *cfg, struct store *st, const char *boot,
			 char *why, size_t whylen)
{
	tc = cfg->tokens;
	store = st;
	snprintf(station, sizeof station, "%s", cfg->station.id);
	snprintf(boot_id, sizeof boot_id, "%s", boot);
	enum sw_err re = command_register(access_commands, COMMAND_ROWS(access_commands), why, whylen);
	if (re == SW_OK && tc.enabled)
		re = command_register(token_commands, COMMAND_ROWS(token_commands), why, whylen);
	if (re != SW_OK)
		return re;
	if (cfg->scanner.enabled) {
		enum sw_err se = scanner_open(&cfg->scanner, on_scanner_line, NULL, why, whylen);
		if (se != SW_OK)
			return se;
		have_scanner = true;
	}
	if (!tc.enabled) {
		health_set("tokens", HEALTH_DISABLED, "no tokens section: every scan is refused");
		return SW_OK;
	}
	enum sw_err e = load_keys(&tc, why, whylen);
	if (e != SW_OK)
		return e;
	health_set("tokens", HEALTH_OK, "%zu keys", ring.n);
	loop_timer_init(&purge_timer, purge, NULL);
	loop_timer_arm(&purge_timer, 0);
	return SW_OK;
}

void access_reconfigure(const struct config *cfg)
{
	char why[256];

	if (!tc.enabled || !cfg->tokens.enabled)
		return; /* turning tokens on or off needs a restart */
	if (load_keys(&cfg->tokens, why, sizeof why) != SW_OK) {
		log_msg(LOG_ERR, "access: keeping the old keys: %s", why);
		return;
	}
	tc = cfg->tokens;
	health_set("tokens", HEALTH_OK, "%zu keys", ring.n);
}

void access_stop(void)
{
	memset(have_claim, 0, sizeof have_claim);
	ticket_note = NULL;
	scanner_close();
	have_scanner = false;
	if (loop_timer_armed(&purge_timer))
		loop_timer_cancel(&purge_timer);
	token_keyring_clear(&ring);
}
