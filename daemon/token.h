/* Station tokens, version 1 (SW1): parse, verify and issue, exactly as the
 * contract with the central fleet says (shared/spec/token.md, "token.md"
 * below). A library without daemon state, linked into swapd and the tools:
 * no globals, no I/O but the key-file loader. HMAC-SHA256 and constant-time
 * comparison come from OpenSSL libcrypto. daemon/TOKENS.md explains the
 * format, the verification order and the key file. */
#ifndef SWAPD_TOKEN_H
#define SWAPD_TOKEN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Field limits from token.md, "Text form". */
#define TOKEN_STATION_MAX 24
#define TOKEN_SUBJECT_MAX 32
#define TOKEN_ARG_MAX 6          /* "p99d99" */
#define TOKEN_NONCE_MIN 6
#define TOKEN_NONCE_MAX 22
#define TOKEN_EXP_MAX 19         /* digits of INT64_MAX */
#define TOKEN_KID_MAX 8
#define TOKEN_MAC_CHARS 22       /* base64url of 16 bytes, no padding */
/* The longest token text: nine fields at their maximum and eight dots. */
#define TOKEN_TEXT_MAX (3 + 1 + TOKEN_STATION_MAX + TOKEN_SUBJECT_MAX + TOKEN_ARG_MAX + \
			TOKEN_NONCE_MAX + TOKEN_EXP_MAX + TOKEN_KID_MAX + TOKEN_MAC_CHARS + 8)
#define TOKEN_SECRET_LEN 32      /* bytes of one HMAC key (token.md, "Keys") */
#define TOKEN_MAX_KEYS 16

/* Defaults of the verification policy (token.md, steps 5 and 6). */
#define TOKEN_DEFAULT_SKEW 60
#define TOKEN_DEFAULT_LIFE_S (24 * 3600)
#define TOKEN_DEFAULT_LIFE_T (7 * 24 * 3600)
#define TOKEN_DEFAULT_LIFE_B (400 * 24 * 3600)

/* The outcome of token_verify; one value per reason code of token.md. */
enum token_reason {
	TOKEN_OK,
	TOKEN_MALFORMED,      /* step 1 */
	TOKEN_UNKNOWN_KEY,    /* step 2 */
	TOKEN_BAD_MAC,        /* step 3 */
	TOKEN_WRONG_STATION,  /* step 4 */
	TOKEN_EXPIRED,        /* step 5 */
	TOKEN_TOO_LONG,       /* step 6 */
	TOKEN_REVOKED,        /* step 7 */
	TOKEN_REPLAYED,       /* step 8 */
};

enum token_kind {
	TOKEN_SWAP = 'S',      /* customer, single use */
	TOKEN_BADGE = 'B',     /* staff badge, reusable */
	TOKEN_TRANSPORT = 'T', /* transport job, single use */
};

enum token_role { TOKEN_ROLE_NONE, TOKEN_ROLE_STAFF, TOKEN_ROLE_ADMIN };

/* The fields of a token, NUL-terminated. It never holds the mac, so nothing
 * that logs a struct token can leak one (token.md: "never the mac"). */
struct token {
	enum token_kind kind;
	char station[TOKEN_STATION_MAX + 1];  /* "*" only for a badge */
	char subject[TOKEN_SUBJECT_MAX + 1];
	char arg[TOKEN_ARG_MAX + 1];
	char nonce[TOKEN_NONCE_MAX + 1];
	int64_t exp;                          /* Unix seconds */
	char kid[TOKEN_KID_MAX + 1];
	/* Derived from arg by the parser; token_issue ignores them. */
	enum token_role role;                 /* B: staff or admin */
	int pickup, dropoff;                  /* T: p<pickup>d<dropoff> */
};

struct token_key {
	char kid[TOKEN_KID_MAX + 1];
	unsigned char secret[TOKEN_SECRET_LEN];
	int64_t not_before;                   /* valid from, inclusive */
	int64_t not_after;                    /* valid until, exclusive */
};

/* The keys a station holds. A window bound left out of the key file is
 * INT64_MIN / INT64_MAX. */
struct token_keyring {
	size_t n;
	struct token_key keys[TOKEN_MAX_KEYS];
};

/* What token_verify checks a token against. Start from
 * token_policy_defaults, then set station, now, keys and the callbacks. */
struct token_policy {
	const char *station;                  /* this station's id */
	int64_t now;                          /* Unix seconds */
	int64_t skew;                         /* step 5 */
	int64_t max_life_s, max_life_t, max_life_b; /* step 6, seconds */
	const struct token_keyring *keys;
	/* Steps 7 and 8: true if the nonce is revoked / was accepted before at
	 * this station. NULL skips the step. A callback that cannot tell (its
	 * store fails) must answer true: a rejection, never an open door. */
	bool (*is_revoked)(const char *nonce, void *ctx);
	bool (*is_used)(const char *nonce, void *ctx);
	void *ctx;
};

/* The contract's code for r ("ok", "malformed", "unknown_key", ...); an
 * unknown value gives "malformed", never NULL. */
const char *token_reason_str(enum token_reason r);

/* Whether s is one of the contract's codes ("ok" included). */
bool token_reason_known(const char *s);

/* Sets skew and the lifetimes to the token.md defaults and everything else
 * to zero / NULL. */
void token_policy_defaults(struct token_policy *p);

/* Step 1 only: returns true and fills *out if text[0..len) is exactly a
 * token of the grammar of token.md. Strict: a trailing CR or LF, a NUL or
 * anything else outside the grammar makes it false (*out is then garbage).
 * Scanner input goes through token_trim_scan first. */
bool token_parse(const char *text, size_t len, struct token *out);

/* The length of text without the CR and LF characters a scanner appends
 * (token.md: "the scanner driver strips trailing CR/LF"). */
size_t token_trim_scan(const char *text, size_t len);

/* Verifies text[0..len) against p in the order of token.md, steps 1 to 8,
 * and returns the first step that fails, or TOKEN_OK. When the result is
 * not TOKEN_MALFORMED, *out holds the parsed fields (for the audit event).
 * It never records the single-use mark: after TOKEN_OK for S or T the
 * caller must store it durably before any door moves. */
enum token_reason token_verify(const char *text, size_t len, const struct token_policy *p,
			       struct token *out);

/* The key of ring with this kid if it is valid at now (step 2), else NULL. */
const struct token_key *token_key_find(const struct token_keyring *ring, const char *kid,
				       int64_t now);

/* Builds and signs a token from in->kind, station, subject, arg, nonce, exp
 * and kid, with that kid's key, which must be valid at now. Every field is
 * checked with the grammar token_parse uses. Writes the NUL-terminated
 * text to out (TOKEN_TEXT_MAX + 1 bytes are always enough) and returns 0;
 * otherwise -1 and a reason naming the field in err (never a secret). */
int token_issue(const struct token *in, const struct token_keyring *ring, int64_t now,
		char *out, size_t outlen, char *err, size_t errlen);

/* Writes a fresh random nonce (16 characters, 96 bits from the OpenSSL
 * CSPRNG) to out, which holds TOKEN_NONCE_MAX + 1 bytes; 0, or -1 if the
 * CSPRNG fails. */
int token_nonce_random(char out[TOKEN_NONCE_MAX + 1]);

/* Reads the JSON key file at path into *ring (format: config/KEYS.md).
 * Refuses a file that group or others may read or write. Returns 0, or -1
 * with one message in err naming the file, the entry and the key at fault;
 * no message ever contains a secret. *ring is cleared on failure. */
int token_keys_load(const char *path, struct token_keyring *ring, char *err, size_t errlen);

/* The same for JSON text in memory; `name` stands for the file name in
 * messages. */
int token_keys_parse(const char *text, size_t len, const char *name, struct token_keyring *ring,
		     char *err, size_t errlen);

/* Wipes every secret of ring (OPENSSL_cleanse) and empties it. */
void token_keyring_clear(struct token_keyring *ring);

#endif
