/* Access: every token scanned at this station (token.md) is verified here,
 * offline, against the station's keys and its own store, and recorded with
 * its result. An accepted S or T token gets its single-use mark in the same
 * transaction that records it, before anything can move; until the swap
 * flow exists, the scan itself is that transaction. The station's own
 * walk-in tickets are issued here too. */
#ifndef SWAPD_ACCESS_H
#define SWAPD_ACCESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "daemon/config.h"
#include "daemon/err.h"
#include "daemon/store.h"
#include "daemon/token.h"

/* Loads the key file, starts the kiosk's scanner when one is configured
 * and registers the scan, scans, ticket and revoke commands. Without a
 * tokens section every scan is refused. */
enum sw_err access_start(const struct config *cfg, struct store *st, const char *boot,
			 char *why, size_t whylen);

/* Takes a reloaded config: new keys (rotation without downtime) and
 * limits. Keeps the old keys if the new file does not load. */
void access_reconfigure(const struct config *cfg);

/* Verifies one scanned line (trailing CR/LF stripped here) from source
 * ("scanner", "control"), records it, and returns its result; *tok holds
 * the parsed fields when the grammar passed (tok->kind is 0 otherwise).
 * The result is a token.md reason, or "store_failed" when it could not be
 * recorded durably (and so was not accepted). */
const char *access_scan(const char *line, size_t len, const char *source, struct token *tok);

/* How long the last access_scan() spent verifying and recording (µs), for
 * `swapctl scan` and the scan-to-unlock benchmark. */
void access_last_timing(int64_t *verify_us, int64_t *record_us);

/* A claimer takes the verified tokens of one kind: the swap flow takes S,
 * transport jobs T, staff actions B. Without one, an accepted token is
 * only recorded (and an S or T token marked used). */
struct access_claim {
	/* Decides before anything is written: NULL takes the token; otherwise
	 * the reason the holder is told ("no_charged_battery", "estop"), and
	 * the token stays unused. */
	const char *(*check)(const struct token *tok, void *arg);
	/* Runs inside the one transaction that records the scan and the
	 * token's single-use mark: the claimer's own store_* calls join it,
	 * so the mark and the claimer's first record are durable together. */
	enum sw_err (*record)(const struct token *tok, void *arg);
	/* After that transaction: committed or not. Acts (a door moves)
	 * only when committed. */
	void (*done)(const struct token *tok, bool committed, void *arg);
	void *arg;
};

/* Revokes the token of nonce (token.md's nonce grammar) until exp (Unix
 * s), for the control socket's `revoke` and the fleet's token.revoke:
 * the revocation and its audit entry (by who) in one transaction.
 * SW_EINVAL for a nonce outside the grammar; a store error when it could
 * not be recorded, and then nothing changed. */
enum sw_err access_revoke(const char *nonce, int64_t exp, const char *who);

/* Sets (or with NULL removes) the claimer of kind's tokens; c is copied. */
void access_set_claim(enum token_kind kind, const struct access_claim *c);

/* Sets (NULL: removes) what a walk-in ticket's reply says of the queue:
 * once EV_TICKET_ISSUED has gone out, note(nonce, arg) gives an object
 * (taken) that the reply carries as "queue". */
void access_set_ticket_note(json_object *(*note)(const char *nonce, void *arg), void *arg);

/* Issues a walk-in S ticket (tokens.walkin_kid) for user (NULL: a new
 * "walkin-..." subject), audited as `ticket` by who, and tells the queue
 * (EV_TICKET_ISSUED). The control reply: {token, subject, nonce, exp,
 * queue (the place, or {error})}, or "not_configured" without walk-ins.
 * The `ticket` command and the kiosk's "Join the queue" both use it. */
json_object *access_issue_walkin(const char *who, const char *user);

/* Wipes the keys. */
void access_stop(void);

#endif
