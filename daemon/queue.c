#include "daemon/queue.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "daemon/access.h"
#include "daemon/event.h"
#include "daemon/health.h"
#include "daemon/log.h"
#include "daemon/loop.h"
#include "daemon/queue_priv.h"
#include "daemon/slots.h"
#include "daemon/store_queue.h"
#include "daemon/swap.h"
#include "daemon/token.h"

/* Deadlines are wall-clock times (they are stored); a clock that jumps
 * (NTP) is caught by looking again at least this often. */
#define RECHECK_MS 60000
/* After a departure could not be recorded (the store failed), the next try. */
#define RETRY_MS 5000

enum arrival { ARR_EN_ROUTE, ARR_APPROACHING, ARR_ARRIVED };
static const char *const arrival_names[] = { "en_route", "approaching", "arrived" };

struct entry {
	struct store_queue_entry e; /* as stored */
	enum arrival arr;
	int64_t ready_at;           /* wall ms since it may swap at once; 0: not now */
};

struct store *queue_store;
static struct entry q[QUEUE_MAX]; /* waiting, in ticket order: q[k] is at k + 1 */
static int n;
static int skew_s, life_swap_s, walkin_ttl_s;
static char boot_id[33];
static struct loop_timer timer;
/* How the last walk-in ticket fared, for the ticket's reply. */
static struct { char nonce[TOKEN_NONCE_MAX + 1]; enum queue_result r; int64_t ticket; } last_walkin;

const char *queue_result_code(enum queue_result r)
{
	static const char *const codes[] = {
		[QUEUE_OK] = "ok", [QUEUE_FULL] = "queue_full", [QUEUE_DUPLICATE] = "duplicate",
		[QUEUE_UNKNOWN_TICKET] = "unknown_ticket", [QUEUE_BAD_REQUEST] = "bad_request",
		[QUEUE_STORE_FAILED] = "store_failed",
	};
	return (unsigned)r < sizeof codes / sizeof codes[0] ? codes[r] : "?";
}

/* The stock now and when the first count riders of q can start. */
struct plan {
	struct queue_stock stock;
	int eta_s[QUEUE_MAX + 1];
	bool waits[QUEUE_MAX + 1];
};

/* A rider still on the road (no report within approaching_m) is at the
 * kiosk no sooner than they said; nearer than that they are minutes away. */
static void plan_make(struct plan *pl, int count)
{
	int at_s[QUEUE_MAX + 1];
	int64_t now = loop_wall_ms();

	for (int k = 0; k < count; k++) {
		int64_t road = (q[k].e.eta_at - now + 999) / 1000;
		at_s[k] = q[k].arr == ARR_EN_ROUTE && road > 0 ? (int)road : 0;
	}
	queue_stock_read(&pl->stock);
	queue_plan(&pl->stock, count, at_s, pl->eta_s, pl->waits);
}

static void place_of(int k, const struct plan *pl, struct queue_place *out)
{
	out->ticket = q[k].e.ticket;
	out->position = k + 1;
	out->eta_s = pl->eta_s[k];
	out->waits_for_charging = pl->waits[k];
	out->arrival = arrival_names[q[k].arr];
}

json_object *queue_place_json(const struct queue_place *p)
{
	json_object *o = json_object_new_object();

	json_object_object_add(o, "ticket", json_object_new_int64(p->ticket));
	json_object_object_add(o, "position", json_object_new_int(p->position));
	json_object_object_add(o, "eta_s", json_object_new_int(p->eta_s));
	json_object_object_add(o, "waits_for_charging", json_object_new_boolean(p->waits_for_charging));
	json_object_object_add(o, "arrival", json_object_new_string(p->arrival));
	return o;
}

static int find_ticket(int64_t ticket)
{
	for (int k = 0; k < n; k++)
		if (q[k].e.ticket == ticket)
			return k;
	return -1;
}

/* The entry a token or a swap names: by its nonce, or a walk-in by its
 * user (a walk-in who scans their own app's token instead of the ticket).
 * A reservation is the fleet's for that nonce only. */
static int find_rider(const char *nonce, const char *user, bool any_source)
{
	for (int k = 0; nonce && k < n; k++)
		if (strcmp(q[k].e.nonce, nonce) == 0)
			return k;
	for (int k = 0; user && k < n; k++)
		if (strcmp(q[k].e.user, user) == 0 && (any_source || strcmp(q[k].e.source, "walkin") == 0))
			return k;
	return -1;
}

bool queue_find(int64_t ticket, struct queue_place *out)
{
	struct plan pl;
	int k = find_ticket(ticket);

	if (k < 0)
		return false;
	plan_make(&pl, n);
	place_of(k, &pl, out);
	return true;
}

static int64_t max64(int64_t a, int64_t b)
{
	return a > b ? a : b;
}

/* Past its token's expiry (token.md step 5) the rider could not swap. */
static int64_t expires_at(const struct entry *en)
{
	return (en->e.exp + skew_s + 1) * 1000;
}

/* A rider who could have swapped for queue.grace_s after the later of
 * their ETA, the moment they could, and their last arrival report. */
static int64_t no_show_at(const struct entry *en)
{
	return max64(max64(en->e.eta_at, en->ready_at), en->e.arrival_at) + queue_qc.grace_s * 1000LL;
}

static const char *due(const struct entry *en, int64_t now)
{
	if (now >= expires_at(en))
		return "expired";
	if (en->ready_at && now >= no_show_at(en))
		return "no_show";
	return NULL;
}

/* Marks who may swap at once (the charged stock covers the arrived riders
 * ahead of them: what queue_admit() lets through) and arms the timer for the
 * next expiry or no-show. */
static void reschedule(void)
{
	struct queue_stock s;
	int64_t now = loop_wall_ms(), next = now + RECHECK_MS;
	int ahead = 0;

	if (!queue_store)
		return;
	queue_stock_read(&s);
	for (int k = 0; k < n; k++) {
		struct entry *en = &q[k];
		if (s.charged <= ahead)
			en->ready_at = 0;
		else if (!en->ready_at)
			en->ready_at = now;
		ahead += en->arr == ARR_ARRIVED;
		next = next < expires_at(en) ? next : expires_at(en);
		if (en->ready_at && no_show_at(en) < next)
			next = no_show_at(en);
	}
	loop_timer_arm(&timer, next > now ? next - now : 0);
}

static void report(void)
{
	health_set("queue", HEALTH_OK, "%d waiting, capacity %d", n, queue_qc.capacity);
	reschedule();
}

/* After a change is on disk: the health line, the deadlines, and the rest
 * of swapd hears of it. */
static void changed(int64_t ticket, const char *what)
{
	report();
	struct event ev = { .type = EV_QUEUE_CHANGED, .slot = -1, .ref = ticket, .what = what };
	event_publish(&ev);
}

/* Adds ne at the end, with its queue.joined event in the same transaction. */
static enum queue_result join(const struct entry *ne, struct queue_place *out)
{
	struct plan pl;
	int64_t ticket = 0;

	if (find_rider(ne->e.nonce, ne->e.user, true) >= 0)
		return QUEUE_DUPLICATE;
	if (n >= queue_qc.capacity)
		return QUEUE_FULL;
	q[n] = *ne;
	plan_make(&pl, n + 1);
	place_of(n, &pl, out);
	q[n].e.eta_s = out->eta_s;
	store_tx_begin(queue_store);
	store_queue_add(queue_store, &q[n].e, &ticket, NULL);
	json_object *f = json_object_new_object();
	json_object_object_add(f, "ticket", json_object_new_int64(ticket));
	json_object_object_add(f, "user", json_object_new_string(ne->e.user));
	json_object_object_add(f, "source", json_object_new_string(ne->e.source));
	json_object_object_add(f, "position", json_object_new_int(out->position));
	json_object_object_add(f, "eta_s", json_object_new_int(out->eta_s));
	json_object_object_add(f, "waits_for_charging", json_object_new_boolean(out->waits_for_charging));
	store_outbox_add(queue_store, &(struct store_event){ "queue.joined", boot_id, f });
	json_object_put(f);
	if (store_tx_commit(queue_store, "adding to the queue") != SW_OK)
		return QUEUE_STORE_FAILED;
	q[n++].e.ticket = out->ticket = ticket;
	log_msg(LOG_INFO, "queue: ticket %" PRId64 " joined: %s %s at %d, eta %d s%s", ticket,
		ne->e.source, ne->e.user, out->position, out->eta_s,
		out->waits_for_charging ? ", waits for charging" : "");
	changed(ticket, "joined");
	return QUEUE_OK;
}

/* q[k] leaves, with its queue.left event in the same transaction. A
 * failure is the store's to log and show; the rider stays. */
static enum queue_result leave(int k, const char *reason)
{
	int64_t ticket = q[k].e.ticket;
	json_object *f = json_object_new_object();

	json_object_object_add(f, "ticket", json_object_new_int64(ticket));
	json_object_object_add(f, "reason", json_object_new_string(reason));
	enum sw_err e = store_queue_leave(queue_store, ticket, reason,
					  &(struct store_event){ "queue.left", boot_id, f });
	json_object_put(f);
	if (e != SW_OK)
		return QUEUE_STORE_FAILED;
	log_msg(LOG_INFO, "queue: ticket %" PRId64 " left: %s", ticket, reason);
	memmove(&q[k], &q[k + 1], (size_t)(n - k - 1) * sizeof q[0]);
	n--;
	changed(ticket, reason);
	return QUEUE_OK;
}

static void tick(void *arg)
{
	int64_t now = loop_wall_ms();

	(void)arg;
	for (;;) {
		int k = 0;
		while (k < n && !due(&q[k], now))
			k++;
		if (k == n)
			break;
		if (leave(k, due(&q[k], now)) != QUEUE_OK) {
			loop_timer_arm(&timer, RETRY_MS);
			return;
		}
	}
	reschedule();
}

/* token.md's grammar for a subject (min 1) or a nonce (min 6). */
static bool in_grammar(const char *s, size_t min, size_t max)
{
	size_t len = strlen(s);

	return len >= min && len <= max &&
	       strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-") == len;
}

/* A new entry for user and nonce, joining now. */
static void entry_init(struct entry *en, const char *user, const char *nonce, const char *source,
		       enum arrival arr)
{
	memset(en, 0, sizeof *en);
	snprintf(en->e.user, sizeof en->e.user, "%s", user);
	snprintf(en->e.nonce, sizeof en->e.nonce, "%s", nonce);
	snprintf(en->e.source, sizeof en->e.source, "%s", source);
	snprintf(en->e.arrival, sizeof en->e.arrival, "%s", arrival_names[arr]);
	en->arr = arr;
	en->e.joined_at = loop_wall_ms();
	en->e.distance_m = -1;
}

enum queue_result queue_reserve(const char *user, const char *nonce, int eta_s, int64_t exp,
				struct queue_place *out)
{
	struct entry ne;
	int64_t now_s = loop_wall_ms() / 1000;

	if (!queue_store)
		return QUEUE_STORE_FAILED;
	if (!user || !nonce || !in_grammar(user, 1, TOKEN_SUBJECT_MAX) ||
	    !in_grammar(nonce, TOKEN_NONCE_MIN, TOKEN_NONCE_MAX) || eta_s < 0 ||
	    eta_s > QUEUE_ETA_MAX_S || exp < 0)
		return QUEUE_BAD_REQUEST;
	/* No S token the fleet issues now lives longer (token.md step 6), and
	 * a place held a day ahead is stale: unknown or later is that. */
	if (!exp || exp > now_s + life_swap_s)
		exp = now_s + life_swap_s;
	if (now_s > exp + skew_s)
		return QUEUE_BAD_REQUEST;
	entry_init(&ne, user, nonce, "fleet", ARR_EN_ROUTE);
	ne.e.eta_at = ne.e.joined_at + eta_s * 1000LL;
	ne.e.exp = exp;
	return join(&ne, out);
}

enum queue_result queue_cancel(int64_t ticket)
{
	int k = queue_store ? find_ticket(ticket) : -1;

	return k < 0 ? QUEUE_UNKNOWN_TICKET : leave(k, "cancelled");
}

enum queue_result queue_arrival(int64_t ticket, int distance_m, struct queue_place *out)
{
	int k = queue_store ? find_ticket(ticket) : -1;
	int64_t now = loop_wall_ms();

	if (k < 0)
		return QUEUE_UNKNOWN_TICKET;
	if (distance_m < 0)
		return QUEUE_BAD_REQUEST;
	enum arrival a = distance_m <= queue_qc.arrived_m ? ARR_ARRIVED
			 : distance_m <= queue_qc.approaching_m ? ARR_APPROACHING : ARR_EN_ROUTE;
	if (store_queue_arrival(queue_store, ticket, arrival_names[a], distance_m, now, NULL) != SW_OK)
		return QUEUE_STORE_FAILED;
	q[k].arr = a;
	snprintf(q[k].e.arrival, sizeof q[k].e.arrival, "%s", arrival_names[a]);
	q[k].e.distance_m = distance_m;
	q[k].e.arrival_at = now;
	changed(ticket, "arrival");
	return queue_find(ticket, out) ? QUEUE_OK : QUEUE_UNKNOWN_TICKET;
}

/* A walk-in ticket was issued at the kiosk: its rider is here, and joins. */
static void on_ticket(const struct event *ev, void *arg)
{
	struct entry ne;
	struct queue_place p;

	(void)arg;
	if (!ev->who || !ev->what)
		return;
	entry_init(&ne, ev->who, ev->what, "walkin", ARR_ARRIVED);
	ne.e.eta_at = ne.e.arrival_at = ne.e.joined_at;
	ne.e.exp = ne.e.joined_at / 1000 + walkin_ttl_s;
	snprintf(last_walkin.nonce, sizeof last_walkin.nonce, "%s", ev->what);
	last_walkin.r = join(&ne, &p);
	last_walkin.ticket = last_walkin.r == QUEUE_OK ? p.ticket : 0;
	if (last_walkin.r != QUEUE_OK)
		log_msg(LOG_NOTICE, "queue: walk-in %s not queued: %s", ev->who,
			queue_result_code(last_walkin.r));
}

/* The walk-in ticket's reply: its place, or why it has none. */
static json_object *ticket_note(const char *nonce, void *arg)
{
	struct queue_place p;
	json_object *o;

	(void)arg;
	if (strcmp(nonce, last_walkin.nonce) == 0 && last_walkin.r == QUEUE_OK &&
	    queue_find(last_walkin.ticket, &p))
		return queue_place_json(&p);
	enum queue_result r = strcmp(nonce, last_walkin.nonce) == 0 ? last_walkin.r : QUEUE_STORE_FAILED;
	o = json_object_new_object();
	json_object_object_add(o, "error", json_object_new_string(queue_result_code(r)));
	json_object_object_add(o, "message", json_object_new_string(
		r == QUEUE_FULL ? "the queue is full: the ticket is good, and swaps when a charged "
				  "battery is left after the riders with a place"
		: r == QUEUE_DUPLICATE ? "this rider has a place in the queue already"
		: "no place in the queue: it could not be recorded"));
	return o;
}

const char *queue_admit(const struct token *tok, int charged, int64_t *ticket, void *arg)
{
	int k = find_rider(tok->nonce, tok->subject, false);
	int ahead = 0;

	(void)arg;
	for (int j = 0; j < (k >= 0 ? k : n); j++)
		ahead += q[j].arr == ARR_ARRIVED;
	*ticket = k >= 0 ? q[k].e.ticket : 0;
	/* With nothing charged the swap flow refuses with its own reason. */
	if (charged <= 0 || charged > ahead)
		return NULL;
	log_msg(LOG_INFO, "queue: %s not admitted: %d charged, %d arrived ahead of %s", tok->subject,
		charged, ahead, k >= 0 ? "their place" : "riders without a place");
	return "not_your_turn";
}

static void on_swap_started(const struct event *ev, void *arg)
{
	(void)arg;
	queue_swap_began(ev->ref);
	int k = find_rider(ev->what, ev->who, false);
	if (k < 0 || leave(k, "served") != QUEUE_OK)
		reschedule(); /* the swap holds its slots: the stock changed */
}

static void on_swap_ended(const struct event *ev, void *arg)
{
	(void)arg;
	queue_swap_ended(ev->ref, ev->on);
	reschedule();
}

static void on_stock(const struct event *ev, void *arg)
{
	(void)ev;
	(void)arg;
	reschedule();
}

json_object *queue_json(void)
{
	struct plan pl;
	struct queue_place p;
	json_object *o = json_object_new_object(), *arr = json_object_new_array();

	plan_make(&pl, n);
	json_object_object_add(o, "capacity", json_object_new_int(queue_qc.capacity));
	json_object_object_add(o, "waiting", json_object_new_int(n));
	json_object_object_add(o, "charged", json_object_new_int(pl.stock.charged));
	json_object_object_add(o, "charging", json_object_new_int(pl.stock.pipeline));
	json_object_object_add(o, "swap_s", json_object_new_int((int)ceil(queue_swap_s())));
	json_object_object_add(o, "swaps_seen", json_object_new_int64(queue_swaps_seen()));
	for (int k = 0; k < n; k++) {
		const struct entry *en = &q[k];
		place_of(k, &pl, &p);
		json_object *e = queue_place_json(&p);
		json_object_object_add(e, "user", json_object_new_string(en->e.user));
		json_object_object_add(e, "source", json_object_new_string(en->e.source));
		json_object_object_add(e, "distance_m",
				       en->e.distance_m >= 0 ? json_object_new_int(en->e.distance_m) : NULL);
		json_object_object_add(e, "may_swap", json_object_new_boolean(en->ready_at != 0));
		json_object_object_add(e, "joined_ms", json_object_new_int64(en->e.joined_at));
		json_object_object_add(e, "exp", json_object_new_int64(en->e.exp));
		json_object_array_add(arr, e);
	}
	json_object_object_add(o, "entries", arr);
	return o;
}

static void take_config(const struct config *cfg)
{
	queue_qc = cfg->queue;
	queue_charged_soc = cfg->rack.charged_soc;
	skew_s = cfg->tokens.skew_s;
	life_swap_s = cfg->tokens.life_swap_s;
	walkin_ttl_s = cfg->tokens.walkin_ttl_s;
}

static void load_one(const struct store_queue_entry *e, void *arg)
{
	int *extra = arg;

	if (n == QUEUE_MAX) {
		(*extra)++;
		return;
	}
	memset(&q[n], 0, sizeof q[n]);
	q[n].e = *e;
	for (int a = ARR_EN_ROUTE; a <= ARR_ARRIVED; a++)
		if (strcmp(e->arrival, arrival_names[a]) == 0)
			q[n].arr = (enum arrival)a;
	n++;
}

/* A swap that started just before a crash, its entry not yet gone. */
static void served_at_start(int64_t ticket, void *arg)
{
	int k = find_ticket(ticket);

	(void)arg;
	if (k >= 0)
		leave(k, "served");
}

static const struct {
	enum event_type type;
	event_fn fn;
} subs[] = {
	{ EV_TICKET_ISSUED, on_ticket }, { EV_SWAP_STARTED, on_swap_started },
	{ EV_SWAP_ENDED, on_swap_ended }, { EV_SLOT_STATE, on_stock },
};

enum sw_err queue_start(const struct config *cfg, struct store *st, const char *boot, char *why,
			size_t whylen)
{
	int extra = 0;
	enum sw_err e;

	take_config(cfg);
	snprintf(boot_id, sizeof boot_id, "%s", boot);
	loop_timer_init(&timer, tick, NULL);
	if ((e = store_queue_load(st, load_one, &extra)) != SW_OK) {
		snprintf(why, whylen, "reading the queue: %s", store_errmsg(st));
		return e;
	}
	if (extra)
		log_msg(LOG_ERR, "queue: %d stored entries beyond the %d this build holds are ignored",
			extra, QUEUE_MAX);
	if ((e = queue_cmd_register(why, whylen)) != SW_OK)
		return e;
	for (size_t i = 0; i < sizeof subs / sizeof subs[0]; i++)
		if ((e = event_subscribe(subs[i].type, subs[i].fn, NULL)) != SW_OK) {
			snprintf(why, whylen, "cannot follow %s events", event_name(subs[i].type));
			return e;
		}
	queue_store = st;
	swap_set_admit(queue_admit, NULL);
	access_set_ticket_note(ticket_note, NULL);
	if (store_queue_in_swaps(st, served_at_start, NULL) != SW_OK)
		log_msg(LOG_ERR, "queue: cannot match the queue against the swaps: %s", store_errmsg(st));
	log_msg(LOG_INFO, "queue: %d waiting", n);
	report();
	return SW_OK;
}

void queue_reconfigure(const struct config *cfg)
{
	take_config(cfg);
	if (queue_store)
		report();
}

void queue_stop(void)
{
	swap_set_admit(NULL, NULL);
	access_set_ticket_note(NULL, NULL);
	for (size_t i = 0; i < sizeof subs / sizeof subs[0]; i++)
		event_unsubscribe(subs[i].type, subs[i].fn, NULL);
	loop_timer_cancel(&timer);
	queue_store = NULL;
	n = 0;
	queue_eta_forget();
	memset(&last_walkin, 0, sizeof last_walkin);
}
