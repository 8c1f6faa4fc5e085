/* The token module's grammar, verification and issuing; the key file is
 * token_keys.c's. */
#include "daemon/token.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include "daemon/token_priv.h"

/* token.md: the mac is the first 16 bytes of the HMAC-SHA256. */
#define MAC_BYTES 16

static const char *const reason_codes[] = {
	[TOKEN_OK] = "ok",
	[TOKEN_MALFORMED] = "malformed",
	[TOKEN_UNKNOWN_KEY] = "unknown_key",
	[TOKEN_BAD_MAC] = "bad_mac",
	[TOKEN_WRONG_STATION] = "wrong_station",
	[TOKEN_EXPIRED] = "expired",
	[TOKEN_TOO_LONG] = "too_long",
	[TOKEN_REVOKED] = "revoked",
	[TOKEN_REPLAYED] = "replayed",
};

const char *token_reason_str(enum token_reason r)
{
	if ((unsigned)r >= sizeof reason_codes / sizeof reason_codes[0])
		return reason_codes[TOKEN_MALFORMED];
	return reason_codes[r];
}

bool token_reason_known(const char *s)
{
	for (size_t i = 0; i < sizeof reason_codes / sizeof reason_codes[0]; i++)
		if (reason_codes[i] && strcmp(s, reason_codes[i]) == 0)
			return true;
	return false;
}

void token_policy_defaults(struct token_policy *p)
{
	memset(p, 0, sizeof *p);
	p->skew = TOKEN_DEFAULT_SKEW;
	p->max_life_s = TOKEN_DEFAULT_LIFE_S;
	p->max_life_t = TOKEN_DEFAULT_LIFE_T;
	p->max_life_b = TOKEN_DEFAULT_LIFE_B;
}

/* Character classes of the grammar, ASCII only (no locale may widen them). */
bool token_is_digit(char c)
{
	return c >= '0' && c <= '9';
}

bool token_is_alnum(char c)
{
	return token_is_digit(c) || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
}

static bool is_station_char(char c)
{
	return token_is_digit(c) || (c >= 'A' && c <= 'Z') || c == '-';
}

static bool is_b64url_char(char c)
{
	return token_is_alnum(c) || c == '-' || c == '_';
}

bool token_all_of(const char *s, size_t n, size_t min, size_t max, bool (*cls)(char))
{
	if (n < min || n > max)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!cls(s[i]))
			return false;
	return true;
}

/* 0..99 written without a leading zero (read like exp, see TOKENS.md). */
static bool parse_count(const char *s, size_t n, int *out)
{
	if (!token_all_of(s, n, 1, 2, token_is_digit) || (n == 2 && s[0] == '0'))
		return false;
	*out = n == 1 ? s[0] - '0' : (s[0] - '0') * 10 + (s[1] - '0');
	return true;
}

/* The arg field for kind (token.md table). Fills role / pickup / dropoff. */
static bool parse_arg(const char *s, size_t n, struct token *t)
{
	const char *d;

	t->role = TOKEN_ROLE_NONE;
	t->pickup = t->dropoff = 0;
	switch (t->kind) {
	case TOKEN_SWAP:
		return n == 1 && s[0] == '-';
	case TOKEN_BADGE:
		if (n == 5 && memcmp(s, "staff", 5) == 0)
			t->role = TOKEN_ROLE_STAFF;
		else if (n == 5 && memcmp(s, "admin", 5) == 0)
			t->role = TOKEN_ROLE_ADMIN;
		return t->role != TOKEN_ROLE_NONE;
	case TOKEN_TRANSPORT:
		if (n < 4 || s[0] != 'p' || !(d = memchr(s, 'd', n)))
			return false;
		return parse_count(s + 1, (size_t)(d - s - 1), &t->pickup) &&
		       parse_count(d + 1, n - (size_t)(d - s) - 1, &t->dropoff);
	}
	return false;
}

/* Decimal Unix seconds, no sign, no leading zero, at most INT64_MAX. */
static bool parse_exp(const char *s, size_t n, int64_t *out)
{
	int64_t v = 0;

	if (!token_all_of(s, n, 1, TOKEN_EXP_MAX, token_is_digit) || (n > 1 && s[0] == '0'))
		return false;
	for (size_t i = 0; i < n; i++)
		if (__builtin_mul_overflow(v, 10, &v) || __builtin_add_overflow(v, s[i] - '0', &v))
			return false;
	*out = v;
	return true;
}

/* base64url without padding of 16 bytes is 22 characters whose last one
 * carries 4 unused bits. Only the canonical form (those bits zero: A, Q, g
 * or w) is accepted, so no two texts carry the same mac and a flipped last
 * character never verifies. */
static bool decode_mac(const char *s, size_t n, unsigned char mac[MAC_BYTES])
{
	unsigned char std[25], raw[19];

	if (!token_all_of(s, n, TOKEN_MAC_CHARS, TOKEN_MAC_CHARS, is_b64url_char) ||
	    !memchr("AQgw", s[n - 1], 4))
		return false;
	for (size_t i = 0; i < n; i++)
		std[i] = s[i] == '-' ? '+' : s[i] == '_' ? '/' : (unsigned char)s[i];
	memcpy(std + n, "==", 3);
	if (EVP_DecodeBlock(raw, std, 24) != 18)
		return false;
	memcpy(mac, raw, MAC_BYTES);
	return true;
}

/* base64url without padding of in[0..n) into out (4 * ceil(n / 3) + 1
 * bytes); returns the length written. */
static size_t encode_b64url(const unsigned char *in, size_t n, char *out)
{
	int len = EVP_EncodeBlock((unsigned char *)out, in, (int)n);

	while (len > 0 && out[len - 1] == '=')
		len--;
	out[len] = '\0';
	for (int i = 0; i < len; i++)
		out[i] = out[i] == '+' ? '-' : out[i] == '/' ? '_' : out[i];
	return (size_t)len;
}

static void copy_field(char *dst, const char *s, size_t n)
{
	memcpy(dst, s, n);
	dst[n] = '\0';
}

/* Step 1: the grammar of token.md, "Text form". Also hands back the mac and
 * the length of the signed part (everything before the last '.'). */
static bool parse(const char *text, size_t len, struct token *t, unsigned char mac[MAC_BYTES],
		  size_t *signed_len)
{
	const char *f[9];
	size_t fl[9], nf = 0, start = 0;

	if (len > TOKEN_TEXT_MAX)
		return false;
	for (size_t i = 0; i <= len; i++) {
		if (i < len && text[i] != '.')
			continue;
		if (nf == 9)
			return false;
		f[nf] = text + start;
		fl[nf++] = i - start;
		start = i + 1;
	}
	if (nf != 9)
		return false;
	if (fl[0] != 3 || memcmp(f[0], "SW1", 3) != 0)
		return false;
	if (fl[1] != 1 || !memchr("SBT", f[1][0], 3))
		return false;
	t->kind = (enum token_kind)f[1][0];
	if (!(t->kind == TOKEN_BADGE && fl[2] == 1 && f[2][0] == '*') &&
	    !token_all_of(f[2], fl[2], 1, TOKEN_STATION_MAX, is_station_char))
		return false;
	if (!token_all_of(f[3], fl[3], 1, TOKEN_SUBJECT_MAX, is_b64url_char))
		return false;
	if (!parse_arg(f[4], fl[4], t))
		return false;
	if (!token_all_of(f[5], fl[5], TOKEN_NONCE_MIN, TOKEN_NONCE_MAX, is_b64url_char))
		return false;
	if (!parse_exp(f[6], fl[6], &t->exp))
		return false;
	if (!token_all_of(f[7], fl[7], 1, TOKEN_KID_MAX, token_is_alnum))
		return false;
	if (!decode_mac(f[8], fl[8], mac))
		return false;
	copy_field(t->station, f[2], fl[2]);
	copy_field(t->subject, f[3], fl[3]);
	copy_field(t->arg, f[4], fl[4]);
	copy_field(t->nonce, f[5], fl[5]);
	copy_field(t->kid, f[7], fl[7]);
	*signed_len = (size_t)(f[8] - text) - 1;
	return true;
}

bool token_parse(const char *text, size_t len, struct token *out)
{
	unsigned char mac[MAC_BYTES];
	size_t signed_len;

	return parse(text, len, out, mac, &signed_len);
}

size_t token_trim_scan(const char *text, size_t len)
{
	while (len > 0 && (text[len - 1] == '\r' || text[len - 1] == '\n'))
		len--;
	return len;
}

const struct token_key *token_key_find(const struct token_keyring *ring, const char *kid,
				       int64_t now)
{
	if (!ring)
		return NULL;
	for (size_t i = 0; i < ring->n; i++) {
		const struct token_key *k = &ring->keys[i];
		if (strcmp(k->kid, kid) == 0)
			return now >= k->not_before && now < k->not_after ? k : NULL;
	}
	return NULL;
}

/* The first 16 bytes of HMAC-SHA256(key, msg); false only if OpenSSL fails
 * (out of memory), which the callers treat as a rejection. */
static bool compute_mac(const struct token_key *key, const char *msg, size_t len,
			unsigned char mac[MAC_BYTES])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	bool ok = HMAC(EVP_sha256(), key->secret, TOKEN_SECRET_LEN, (const unsigned char *)msg,
		       len, md, &mdlen) != NULL && mdlen >= MAC_BYTES;

	if (ok)
		memcpy(mac, md, MAC_BYTES);
	OPENSSL_cleanse(md, sizeof md);
	return ok;
}

static int64_t max_life(const struct token_policy *p, enum token_kind kind)
{
	switch (kind) {
	case TOKEN_SWAP:
		return p->max_life_s;
	case TOKEN_TRANSPORT:
		return p->max_life_t;
	case TOKEN_BADGE:
		return p->max_life_b;
	}
	return 0;
}

enum token_reason token_verify(const char *text, size_t len, const struct token_policy *p,
			       struct token *out)
{
	unsigned char mac[MAC_BYTES], want[MAC_BYTES];
	const struct token_key *key;
	size_t signed_len;
	int64_t limit, left;
	bool same;

	/* 1 */
	if (!parse(text, len, out, mac, &signed_len))
		return TOKEN_MALFORMED;
	/* 2 */
	key = token_key_find(p->keys, out->kid, p->now);
	if (!key)
		return TOKEN_UNKNOWN_KEY;
	/* 3: compared in constant time, so timing tells a forger nothing. */
	same = compute_mac(key, text, signed_len, want) && CRYPTO_memcmp(mac, want, MAC_BYTES) == 0;
	OPENSSL_cleanse(want, sizeof want);
	if (!same)
		return TOKEN_BAD_MAC;
	/* 4: "*" is a badge valid at every station. */
	if (!(out->kind == TOKEN_BADGE && strcmp(out->station, "*") == 0) &&
	    (!p->station || strcmp(out->station, p->station) != 0))
		return TOKEN_WRONG_STATION;
	/* 5: now <= exp + skew, saturating rather than wrapping. */
	if (__builtin_add_overflow(out->exp, p->skew, &limit))
		limit = p->skew > 0 ? INT64_MAX : INT64_MIN;
	if (p->now > limit)
		return TOKEN_EXPIRED;
	/* 6: exp - now <= the kind's lifetime; an overflow is beyond any. */
	if (__builtin_sub_overflow(out->exp, p->now, &left) || left > max_life(p, out->kind))
		return TOKEN_TOO_LONG;
	/* 7 */
	if (p->is_revoked && p->is_revoked(out->nonce, p->ctx))
		return TOKEN_REVOKED;
	/* 8: badges are reusable until revoked or expired. */
	if (out->kind != TOKEN_BADGE && p->is_used && p->is_used(out->nonce, p->ctx))
		return TOKEN_REPLAYED;
	return TOKEN_OK;
}

void token_set_err(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (!err || !errlen)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

int token_issue(const struct token *in, const struct token_keyring *ring, int64_t now,
		char *out, size_t outlen, char *err, size_t errlen)
{
	struct token t = { .kind = in->kind };
	const struct token_key *key = NULL;
	unsigned char mac[MAC_BYTES];
	char mactext[25];
	int n;

	if (in->kind != TOKEN_SWAP && in->kind != TOKEN_BADGE && in->kind != TOKEN_TRANSPORT) {
		token_set_err(err, errlen, "kind is not S, B or T");
		return -1;
	}
	if (!(in->kind == TOKEN_BADGE && strcmp(in->station, "*") == 0) &&
	    !token_all_of(in->station, strlen(in->station), 1, TOKEN_STATION_MAX,
			  is_station_char)) {
		token_set_err(err, errlen,
			      "station \"%s\" is not 1 to 24 of A-Z 0-9 - (or * for kind B)",
			      in->station);
		return -1;
	}
	if (!token_all_of(in->subject, strlen(in->subject), 1, TOKEN_SUBJECT_MAX, is_b64url_char)) {
		token_set_err(err, errlen, "subject \"%s\" is not 1 to 32 of A-Z a-z 0-9 _ -",
			      in->subject);
		return -1;
	}
	if (!parse_arg(in->arg, strlen(in->arg), &t)) {
		token_set_err(err, errlen, "arg \"%s\" is not %s", in->arg,
			in->kind == TOKEN_SWAP    ? "- (the only arg of kind S)"
			: in->kind == TOKEN_BADGE ? "staff or admin (the roles of kind B)"
						  : "p<N>d<M> with N and M in 0..99 (kind T)");
		return -1;
	}
	if (!token_all_of(in->nonce, strlen(in->nonce), TOKEN_NONCE_MIN, TOKEN_NONCE_MAX,
			  is_b64url_char)) {
		token_set_err(err, errlen, "nonce \"%s\" is not 6 to 22 of A-Z a-z 0-9 _ -",
			      in->nonce);
		return -1;
	}
	if (in->exp < 0) {
		token_set_err(err, errlen, "exp %" PRId64 " is negative", in->exp);
		return -1;
	}
	if (!token_all_of(in->kid, strlen(in->kid), 1, TOKEN_KID_MAX, token_is_alnum)) {
		token_set_err(err, errlen, "kid \"%s\" is not 1 to 8 of A-Z a-z 0-9", in->kid);
		return -1;
	}
	for (size_t i = 0; ring && i < ring->n && !key; i++)
		if (strcmp(ring->keys[i].kid, in->kid) == 0)
			key = &ring->keys[i];
	if (!key) {
		token_set_err(err, errlen, "kid \"%s\" is not in the key file", in->kid);
		return -1;
	}
	if (token_key_find(ring, in->kid, now) != key) {
		token_set_err(err, errlen, "key \"%s\" is outside its validity window at %" PRId64,
			in->kid, now);
		return -1;
	}
	n = snprintf(out, outlen, "SW1.%c.%s.%s.%s.%s.%" PRId64 ".%s.", (char)in->kind,
		     in->station, in->subject, in->arg, in->nonce, in->exp, in->kid);
	if (n < 0 || (size_t)n + TOKEN_MAC_CHARS >= outlen) {
		token_set_err(err, errlen, "output buffer of %zu bytes is too small", outlen);
		return -1;
	}
	if (!compute_mac(key, out, (size_t)n - 1, mac)) {
		token_set_err(err, errlen, "HMAC-SHA256 failed (out of memory?)");
		return -1;
	}
	encode_b64url(mac, MAC_BYTES, mactext);
	memcpy(out + n, mactext, TOKEN_MAC_CHARS + 1);
	return 0;
}

int token_nonce_random(char out[TOKEN_NONCE_MAX + 1])
{
	unsigned char raw[12];

	if (RAND_bytes(raw, sizeof raw) != 1)
		return -1;
	encode_b64url(raw, sizeof raw, out);
	return 0;
}
