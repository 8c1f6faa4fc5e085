/* The token library against the contract (shared/spec/token.md): its four
 * test vectors, every single-character change to them, the grammar at its
 * boundaries, each reason code and the order of the steps, issuing, and the
 * key file (validation messages, mode check, no secret in any message). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "daemon/token.h"

#define K1_B64 "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="
#define K2_B64 "Ly1ouluLZIcmLDPq0s+VCAjMpRuxiy1JUJzisw8J+A4="
#define KEYS_JSON \
	"{\"keys\":[{\"kid\":\"k1\",\"secret\":\"" K1_B64 "\"}," \
	"{\"kid\":\"k2\",\"secret\":\"" K2_B64 "\"}]}"
#define STATION "ST-DEL-001"
/* Before every vector's exp and within every kind's default lifetime:
 * S and T expire 50000 s later, the badge 31586000 s (< 400 days). */
#define NOW 1794950000

static const char *const vectors[] = {
	"SW1.S.ST-DEL-001.u-000123.-.kQ2xF9aZ.1795000000.k1.RfpBnQooMDivzq_bf9L3IA",
	"SW1.B.*.staff-17.staff.badge-0017.1826536000.k1.nOKNTgK7NkIWm8cgHSvoSQ",
	"SW1.T.ST-DEL-001.job-5521.p2d3.tj5521a.1795000000.k1.LPYx2K756iPqzEREgaAbVg",
	"SW1.S.ST-DEL-001.u-000123.-.kQ2xF9aZ.1795000000.k2.0po1e_ybVR1YIyCcln4Fmg",
};
#define NVECTORS (sizeof vectors / sizeof vectors[0])

static struct token_keyring ring;

static int setup(void **state)
{
	char err[256];

	(void)state;
	return token_keys_parse(KEYS_JSON, strlen(KEYS_JSON), "test", &ring, err, sizeof err);
}

static int teardown(void **state)
{
	(void)state;
	token_keyring_clear(&ring);
	return 0;
}

static struct token_policy policy(int64_t now)
{
	struct token_policy p;

	token_policy_defaults(&p);
	p.station = STATION;
	p.now = now;
	p.keys = &ring;
	return p;
}

static enum token_reason verify_at(const char *text, int64_t now)
{
	struct token_policy p = policy(now);
	struct token t;

	return token_verify(text, strlen(text), &p, &t);
}

/* Signs a token with k1 from its fields; fails the test if issuing fails. */
static void issue(char kind, const char *station, const char *subject, const char *arg,
		  const char *nonce, int64_t exp, char *out)
{
	struct token in = { .kind = (enum token_kind)kind, .exp = exp };
	char err[256];

	snprintf(in.station, sizeof in.station, "%s", station);
	snprintf(in.subject, sizeof in.subject, "%s", subject);
	snprintf(in.arg, sizeof in.arg, "%s", arg);
	snprintf(in.nonce, sizeof in.nonce, "%s", nonce);
	snprintf(in.kid, sizeof in.kid, "k1");
	if (token_issue(&in, &ring, NOW, out, TOKEN_TEXT_MAX + 1, err, sizeof err) != 0)
		fail_msg("issue %c %s %s %s %s: %s", kind, station, subject, arg, nonce, err);
}

static void test_reason_strings(void **state)
{
	static const struct {
		enum token_reason r;
		const char *code;
	} codes[] = {
		{ TOKEN_OK, "ok" },
		{ TOKEN_MALFORMED, "malformed" },
		{ TOKEN_UNKNOWN_KEY, "unknown_key" },
		{ TOKEN_BAD_MAC, "bad_mac" },
		{ TOKEN_WRONG_STATION, "wrong_station" },
		{ TOKEN_EXPIRED, "expired" },
		{ TOKEN_TOO_LONG, "too_long" },
		{ TOKEN_REVOKED, "revoked" },
		{ TOKEN_REPLAYED, "replayed" },
	};

	(void)state;
	for (size_t i = 0; i < sizeof codes / sizeof codes[0]; i++)
		assert_string_equal(token_reason_str(codes[i].r), codes[i].code);
	assert_string_equal(token_reason_str((enum token_reason)99), "malformed");
}

static void test_vectors_verify(void **state)
{
	struct token_policy p = policy(NOW);
	struct token t;

	(void)state;
	for (size_t i = 0; i < NVECTORS; i++)
		if (token_verify(vectors[i], strlen(vectors[i]), &p, &t) != TOKEN_OK)
			fail_msg("vector %zu: %s", i,
				 token_reason_str(token_verify(vectors[i], strlen(vectors[i]), &p, &t)));

	assert_int_equal(token_verify(vectors[0], strlen(vectors[0]), &p, &t), TOKEN_OK);
	assert_int_equal(t.kind, TOKEN_SWAP);
	assert_string_equal(t.station, "ST-DEL-001");
	assert_string_equal(t.subject, "u-000123");
	assert_string_equal(t.arg, "-");
	assert_string_equal(t.nonce, "kQ2xF9aZ");
	assert_int_equal(t.exp, 1795000000);
	assert_string_equal(t.kid, "k1");
	assert_int_equal(t.role, TOKEN_ROLE_NONE);

	assert_int_equal(token_verify(vectors[1], strlen(vectors[1]), &p, &t), TOKEN_OK);
	assert_int_equal(t.kind, TOKEN_BADGE);
	assert_string_equal(t.station, "*");
	assert_int_equal(t.role, TOKEN_ROLE_STAFF);
	assert_int_equal(t.exp, 1826536000);

	assert_int_equal(token_verify(vectors[2], strlen(vectors[2]), &p, &t), TOKEN_OK);
	assert_int_equal(t.kind, TOKEN_TRANSPORT);
	assert_string_equal(t.subject, "job-5521");
	assert_int_equal(t.pickup, 2);
	assert_int_equal(t.dropoff, 3);

	assert_int_equal(token_verify(vectors[3], strlen(vectors[3]), &p, &t), TOKEN_OK);
	assert_string_equal(t.kid, "k2");
}

/* token_issue with the vectors' fields must give the vectors, byte for byte:
 * the signing side agrees with the fleet too. */
static void test_issue_reproduces_vectors(void **state)
{
	(void)state;
	for (size_t i = 0; i < NVECTORS; i++) {
		struct token t;
		char out[TOKEN_TEXT_MAX + 1], err[256];
		assert_true(token_parse(vectors[i], strlen(vectors[i]), &t));
		assert_int_equal(token_issue(&t, &ring, NOW, out, sizeof out, err, sizeof err), 0);
		assert_string_equal(out, vectors[i]);
	}
}

/* Every character a flip may put in: the token alphabet, the separators,
 * and a few outside (scanner noise, base64 standard, UTF-8, NUL). */
static const char flip_chars[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.*"
	" +/=\r\n\t~%\x7f\x80\xc3\xff";

/* token.md: "Flip any character of any field and the token must be
 * rejected." Where the reason is determined it is checked too: a flip that
 * leaves the grammar intact fails at the key (a kid this station does not
 * hold) or at the mac; any other flip is malformed. */
static void test_single_char_flips(void **state)
{
	size_t tried = 0;

	(void)state;
	for (size_t v = 0; v < NVECTORS; v++) {
		size_t len = strlen(vectors[v]);
		for (size_t pos = 0; pos < len; pos++) {
			for (size_t c = 0; c < sizeof flip_chars; c++) {
				char text[TOKEN_TEXT_MAX + 1];
				struct token_policy p = policy(NOW);
				struct token t, parsed;
				enum token_reason want, got;
				if (flip_chars[c] == vectors[v][pos])
					continue;
				memcpy(text, vectors[v], len + 1);
				text[pos] = flip_chars[c];
				if (!token_parse(text, len, &parsed))
					want = TOKEN_MALFORMED;
				else if (!token_key_find(&ring, parsed.kid, NOW))
					want = TOKEN_UNKNOWN_KEY;
				else
					want = TOKEN_BAD_MAC;
				got = token_verify(text, len, &p, &t);
				if (got != want)
					fail_msg("vector %zu, position %zu set to 0x%02x: %s, want %s", v,
						 pos, (unsigned char)flip_chars[c], token_reason_str(got),
						 token_reason_str(want));
				tried++;
			}
		}
	}
	assert_true(tried > 4 * 60 * 70);
}

/* The oracle of the flip test: the grammar, checked on its own. */
static void test_grammar(void **state)
{
	static const struct {
		const char *text;
		bool ok;
	} cases[] = {
		{ "SW1.S.ST-DEL-001.u-000123.-.kQ2xF9aZ.1795000000.k1.RfpBnQooMDivzq_bf9L3IA", true },
		{ "SW1.S.ST-DEL-001.u-000123.-.kQ2xF9aZ.1795000000.k1.RfpBnQooMDivzq_bf9L3IA\n", false },
		{ "SW1.S.ST-DEL-001.u-000123.-.kQ2xF9aZ.1795000000.k1.RfpBnQooMDivzq_bf9L3IA\r", false },
		{ " SW1.S.ST-DEL-001.u-000123.-.kQ2xF9aZ.1795000000.k1.RfpBnQooMDivzq_bf9L3IA", false },
		{ "SW1.S.ST-DEL-001.u-000123.-.kQ2xF9aZ.1795000000.k1.RfpBnQooMDivzq_bf9L3IA.", false },
		{ "SW1.S.ST-DEL-001.u-000123.-.kQ2xF9aZ.1795000000.RfpBnQooMDivzq_bf9L3IA", false },
		{ "SW2.S.ST-DEL-001.u-000123.-.kQ2xF9aZ.1795000000.k1.RfpBnQooMDivzq_bf9L3IA", false },
		{ "sw1.S.ST-DEL-001.u-000123.-.kQ2xF9aZ.1795000000.k1.RfpBnQooMDivzq_bf9L3IA", false },
		{ "SW1.s.ST-DEL-001.u-000123.-.kQ2xF9aZ.1795000000.k1.RfpBnQooMDivzq_bf9L3IA", false },
		{ "SW1.X.ST-DEL-001.u-000123.-.kQ2xF9aZ.1795000000.k1.RfpBnQooMDivzq_bf9L3IA", false },
		{ "SW1.SS.ST-DEL-001.u-000123.-.kQ2xF9aZ.1795000000.k1.RfpBnQooMDivzq_bf9L3IA", false },
		/* station: 24 is the most, lower case and "*" outside B are not */
		{ "SW1.S.ABCDEFGHIJKLMNOPQRSTUVWX.u.-.kQ2xF9aZ.1.k1.AAAAAAAAAAAAAAAAAAAAAA", true },
		{ "SW1.S.ABCDEFGHIJKLMNOPQRSTUVWXY.u.-.kQ2xF9aZ.1.k1.AAAAAAAAAAAAAAAAAAAAAA", false },
		{ "SW1.S..u.-.kQ2xF9aZ.1.k1.AAAAAAAAAAAAAAAAAAAAAA", false },
		{ "SW1.S.st-del-001.u.-.kQ2xF9aZ.1.k1.AAAAAAAAAAAAAAAAAAAAAA", false },
		{ "SW1.S.*.u.-.kQ2xF9aZ.1.k1.AAAAAAAAAAAAAAAAAAAAAA", false },
		{ "SW1.T.*.u.p1d1.kQ2xF9aZ.1.k1.AAAAAAAAAAAAAAAAAAAAAA", false },
		{ "SW1.B.*.u.admin.kQ2xF9aZ.1.k1.AAAAAAAAAAAAAAAAAAAAAA", true },
		{ "SW1.B.**.u.admin.kQ2xF9aZ.1.k1.AAAAAAAAAAAAAAAAAAAAAA", false },
		{ "SW1.B.ST-1.u.admin.kQ2xF9aZ.1.k1.AAAAAAAAAAAAAAAAAAAAAA", true },
		/* subject: 1 to 32 */
		{ "SW1.S.A.abcdefghijklmnopqrstuvwxyz_-0123.-.kQ2xF9aZ.1.k1.AAAAAAAAAAAAAAAAAAAAAA", true },
		{ "SW1.S.A.abcdefghijklmnopqrstuvwxyz_-01234.-.kQ2xF9aZ.1.k1.AAAAAAAAAAAAAAAAAAAAAA", false },
		{ "SW1.S.A..-.kQ2xF9aZ.1.k1.AAAAAAAAAAAAAAAAAAAAAA", false },
		{ "SW1.S.A.u+1.-.kQ2xF9aZ.1.k1.AAAAAAAAAAAAAAAAAAAAAA", false },
		/* arg by kind */
		{ "SW1.S.A.u.x.kQ2xF9aZ.1.k1.AAAAAAAAAAAAAAAAAAAAAA", false },
		{ "SW1.S.A.u..kQ2xF9aZ.1.k1.AAAAAAAAAAAAAAAAAAAAAA", false },
		{ "SW1.B.A.u.-.kQ2xF9aZ.1.k1.AAAAAAAAAAAAAAAAAAAAAA", false },
		{ "SW1.B.A.u.Staff.kQ2xF9aZ.1.k1.AAAAAAAAAAAAAAAAAAAAAA", false },
		{ "SW1.B.A.u.root.kQ2xF9aZ.1.k1.AAAAAAAAAAAAAAAAAAAAAA", false },
		{ "SW1.T.A.u.p0d0.kQ2xF9aZ.1.k1.AAAAAAAAAAAAAAAAAAAAAA", true },
		{ "SW1.T.A.u.p99d99.kQ2xF9aZ.1.k1.AAAAAAAAAAAAAAAAAAAAAA", true },
		{ "SW1.T.A.u.p100d1.kQ2xF9aZ.1.k1.AAAAAAAAAAAAAAAAAAAAAA", false },
		{ "SW1.T.A.u.p01d1.kQ2xF9aZ.1.k1.AAAAAAAAAAAAAAAAAAAAAA", false },
		{ "SW1.T.A.u.pd1.kQ2xF9aZ.1.k1.AAAAAAAAAAAAAAAAAAAAAA", false },
		{ "SW1.T.A.u.p1d.kQ2xF9aZ.1.k1.AAAAAAAAAAAAAAAAAAAAAA", false },
		{ "SW1.T.A.u.p1x1.kQ2xF9aZ.1.k1.AAAAAAAAAAAAAAAAAAAAAA", false },
		{ "SW1.T.A.u.d1p1.kQ2xF9aZ.1.k1.AAAAAAAAAAAAAAAAAAAAAA", false },
		{ "SW1.T.A.u.p1d1d.kQ2xF9aZ.1.k1.AAAAAAAAAAAAAAAAAAAAAA", false },
		{ "SW1.T.A.u.-.kQ2xF9aZ.1.k1.AAAAAAAAAAAAAAAAAAAAAA", false },
		/* nonce: 6 to 22 */
		{ "SW1.S.A.u.-.abcdef.1.k1.AAAAAAAAAAAAAAAAAAAAAA", true },
		{ "SW1.S.A.u.-.abcde.1.k1.AAAAAAAAAAAAAAAAAAAAAA", false },
		{ "SW1.S.A.u.-.abcdefghijklmnopqrs_-9.1.k1.AAAAAAAAAAAAAAAAAAAAAA", true },
		{ "SW1.S.A.u.-.abcdefghijklmnopqrs_-90.1.k1.AAAAAAAAAAAAAAAAAAAAAA", false },
		{ "SW1.S.A.u.-.abc=def.1.k1.AAAAAAAAAAAAAAAAAAAAAA", false },
		/* exp: decimal, no sign, no leading zero, fits in 64 bits */
		{ "SW1.S.A.u.-.abcdef.0.k1.AAAAAAAAAAAAAAAAAAAAAA", true },
		{ "SW1.S.A.u.-.abcdef.01.k1.AAAAAAAAAAAAAAAAAAAAAA", false },
		{ "SW1.S.A.u.-.abcdef.+1.k1.AAAAAAAAAAAAAAAAAAAAAA", false },
		{ "SW1.S.A.u.-.abcdef.-1.k1.AAAAAAAAAAAAAAAAAAAAAA", false },
		{ "SW1.S.A.u.-.abcdef..k1.AAAAAAAAAAAAAAAAAAAAAA", false },
		{ "SW1.S.A.u.-.abcdef.1e9.k1.AAAAAAAAAAAAAAAAAAAAAA", false },
		{ "SW1.S.A.u.-.abcdef.9223372036854775807.k1.AAAAAAAAAAAAAAAAAAAAAA", true },
		{ "SW1.S.A.u.-.abcdef.9223372036854775808.k1.AAAAAAAAAAAAAAAAAAAAAA", false },
		{ "SW1.S.A.u.-.abcdef.99999999999999999999.k1.AAAAAAAAAAAAAAAAAAAAAA", false },
		/* kid: 1 to 8 letters and digits */
		{ "SW1.S.A.u.-.abcdef.1.abcdEF89.AAAAAAAAAAAAAAAAAAAAAA", true },
		{ "SW1.S.A.u.-.abcdef.1.abcdEF890.AAAAAAAAAAAAAAAAAAAAAA", false },
		{ "SW1.S.A.u.-.abcdef.1..AAAAAAAAAAAAAAAAAAAAAA", false },
		{ "SW1.S.A.u.-.abcdef.1.k-1.AAAAAAAAAAAAAAAAAAAAAA", false },
		/* mac: 22 base64url characters, canonical last one */
		{ "SW1.S.A.u.-.abcdef.1.k1.AAAAAAAAAAAAAAAAAAAAA", false },
		{ "SW1.S.A.u.-.abcdef.1.k1.AAAAAAAAAAAAAAAAAAAAAAA", false },
		{ "SW1.S.A.u.-.abcdef.1.k1.AAAAAAAAAAAAAAAAAAAAAA==", false },
		{ "SW1.S.A.u.-.abcdef.1.k1.-_AAAAAAAAAAAAAAAAAAAw", true },
		{ "SW1.S.A.u.-.abcdef.1.k1.+/AAAAAAAAAAAAAAAAAAAA", false },
		{ "SW1.S.A.u.-.abcdef.1.k1.AAAAAAAAAAAAAAAAAAAAAB", false },
		{ "SW1.S.A.u.-.abcdef.1.k1.AAAAAAAAAAAAAAAAAAAAA_", false },
		{ "", false },
		{ "........", false },
		{ ".........", false },
	};

	(void)state;
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct token t;
		if (token_parse(cases[i].text, strlen(cases[i].text), &t) != cases[i].ok)
			fail_msg("case %zu: %s should %sparse", i, cases[i].text,
				 cases[i].ok ? "" : "not ");
	}
}

static void test_nul_and_length(void **state)
{
	static const char with_nul[] =
		"SW1.S.ST-DEL-001.u-000123.-.kQ2xF9aZ.1795000000.k1.RfpBnQooMDivzq_bf9L3IA";
	char longest[TOKEN_TEXT_MAX + 2];
	struct token t;

	(void)state;
	/* The length given is what counts: a NUL inside is outside the grammar. */
	assert_false(token_parse(with_nul, sizeof with_nul, &t));
	assert_true(token_parse(with_nul, sizeof with_nul - 1, &t));
	/* TOKEN_TEXT_MAX is the real maximum: issue one at every limit. */
	issue('T', "ABCDEFGHIJKLMNOPQRSTUVWX", "abcdefghijklmnopqrstuvwxyz_-0123", "p99d99",
	      "abcdefghijklmnopqrs_-9", INT64_MAX, longest);
	assert_int_equal(strlen(longest), TOKEN_TEXT_MAX - TOKEN_KID_MAX + 2);
	assert_true(token_parse(longest, strlen(longest), &t));
	assert_int_equal(t.exp, INT64_MAX);
	memset(longest, 'A', sizeof longest);
	assert_false(token_parse(longest, sizeof longest, &t));
}

static void test_trim_scan(void **state)
{
	static const struct {
		const char *in;
		size_t want;
	} cases[] = {
		{ "SW1.x", 5 }, { "SW1.x\n", 5 }, { "SW1.x\r\n", 5 }, { "SW1.x\r", 5 },
		{ "SW1.x\n\r\n", 5 }, { "SW1.x \n", 6 }, { "\r\n", 0 }, { "", 0 },
	};

	(void)state;
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
		assert_int_equal(token_trim_scan(cases[i].in, strlen(cases[i].in)), cases[i].want);
}

/* Tokens issued at the limits of each field verify: issue and verify agree
 * on the grammar. */
static void test_issue_boundaries(void **state)
{
	static const struct {
		char kind;
		const char *station, *subject, *arg, *nonce;
	} cases[] = {
		{ 'S', STATION, "a", "-", "abcdef" },
		{ 'S', STATION, "abcdefghijklmnopqrstuvwxyz_-0123", "-", "abcdefghijklmnopqrs_-9" },
		{ 'B', "*", "s1", "admin", "nonce1" },
		{ 'B', STATION, "s1", "staff", "nonce1" },
		{ 'T', STATION, "j", "p0d0", "nonce1" },
		{ 'T', STATION, "j", "p99d9", "nonce1" },
	};

	(void)state;
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		char text[TOKEN_TEXT_MAX + 1];
		issue(cases[i].kind, cases[i].station, cases[i].subject, cases[i].arg,
		      cases[i].nonce, NOW + 3600, text);
		if (verify_at(text, NOW) != TOKEN_OK)
			fail_msg("case %zu: %s: %s", i, text, token_reason_str(verify_at(text, NOW)));
	}
}

static void test_issue_errors(void **state)
{
	static const struct {
		char kind;
		const char *station, *subject, *arg, *nonce, *kid;
		int64_t exp;
		const char *message;
	} cases[] = {
		{ 'X', "A", "u", "-", "abcdef", "k1", 1, "kind is not S, B or T" },
		{ 'S', "*", "u", "-", "abcdef", "k1", 1,
		  "station \"*\" is not 1 to 24 of A-Z 0-9 - (or * for kind B)" },
		{ 'S', "a", "u", "-", "abcdef", "k1", 1,
		  "station \"a\" is not 1 to 24 of A-Z 0-9 - (or * for kind B)" },
		{ 'S', "A", "", "-", "abcdef", "k1", 1,
		  "subject \"\" is not 1 to 32 of A-Z a-z 0-9 _ -" },
		{ 'S', "A", "u.1", "-", "abcdef", "k1", 1,
		  "subject \"u.1\" is not 1 to 32 of A-Z a-z 0-9 _ -" },
		{ 'S', "A", "u", "", "abcdef", "k1", 1, "arg \"\" is not - (the only arg of kind S)" },
		{ 'B', "A", "u", "boss", "abcdef", "k1", 1,
		  "arg \"boss\" is not staff or admin (the roles of kind B)" },
		{ 'T', "A", "u", "p1d100", "abcdef", "k1", 1,
		  "arg \"p1d100\" is not p<N>d<M> with N and M in 0..99 (kind T)" },
		{ 'S', "A", "u", "-", "abcde", "k1", 1,
		  "nonce \"abcde\" is not 6 to 22 of A-Z a-z 0-9 _ -" },
		{ 'S', "A", "u", "-", "abcdef", "k1", -1, "exp -1 is negative" },
		{ 'S', "A", "u", "-", "abcdef", "k_1", 1, "kid \"k_1\" is not 1 to 8 of A-Z a-z 0-9" },
		{ 'S', "A", "u", "-", "abcdef", "k3", 1, "kid \"k3\" is not in the key file" },
	};

	(void)state;
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct token in = { .kind = (enum token_kind)cases[i].kind, .exp = cases[i].exp };
		char out[TOKEN_TEXT_MAX + 1], err[256] = "";
		snprintf(in.station, sizeof in.station, "%s", cases[i].station);
		snprintf(in.subject, sizeof in.subject, "%s", cases[i].subject);
		snprintf(in.arg, sizeof in.arg, "%s", cases[i].arg);
		snprintf(in.nonce, sizeof in.nonce, "%s", cases[i].nonce);
		snprintf(in.kid, sizeof in.kid, "%s", cases[i].kid);
		if (token_issue(&in, &ring, NOW, out, sizeof out, err, sizeof err) != -1 ||
		    strcmp(err, cases[i].message) != 0)
			fail_msg("case %zu:\n  want: %s\n  got:  %s", i, cases[i].message, err);
	}
}

static void test_issue_small_buffer(void **state)
{
	struct token in = { .kind = TOKEN_SWAP, .station = "A", .subject = "u", .arg = "-",
			    .nonce = "abcdef", .exp = 1, .kid = "k1" };
	char out[TOKEN_TEXT_MAX + 1], err[256];
	size_t need;

	(void)state;
	assert_int_equal(token_issue(&in, &ring, NOW, out, sizeof out, err, sizeof err), 0);
	need = strlen(out) + 1;
	assert_int_equal(token_issue(&in, &ring, NOW, out, need, err, sizeof err), 0);
	assert_int_equal(token_issue(&in, &ring, NOW, out, need - 1, err, sizeof err), -1);
	assert_string_equal(err, "output buffer of 46 bytes is too small");
}

/* Step 2: a kid not held, or held but outside its window. */
static void test_unknown_key(void **state)
{
	static const char json[] =
		"{\"keys\":[{\"kid\":\"k1\",\"secret\":\"" K1_B64 "\","
		"\"not_before\":\"2026-11-18T00:00:00Z\",\"not_after\":\"2026-11-19T00:00:00Z\"}]}";
	const int64_t nb = 1794960000, na = 1795046400;
	struct token_keyring windowed;
	struct token_policy p = policy(NOW);
	struct token t;
	char err[256], text[TOKEN_TEXT_MAX + 1];

	(void)state;
	/* k2 is not held by this ring */
	assert_int_equal(token_keys_parse(json, strlen(json), "w", &windowed, err, sizeof err), 0);
	assert_int_equal(windowed.keys[0].not_before, nb);
	assert_int_equal(windowed.keys[0].not_after, na);
	p.keys = &windowed;
	assert_int_equal(token_verify(vectors[3], strlen(vectors[3]), &p, &t), TOKEN_UNKNOWN_KEY);
	assert_string_equal(t.kid, "k2");
	/* no ring at all */
	p.keys = NULL;
	assert_int_equal(token_verify(vectors[0], strlen(vectors[0]), &p, &t), TOKEN_UNKNOWN_KEY);
	/* the window is [not_before, not_after) */
	p.keys = &windowed;
	p.now = nb - 1;
	assert_int_equal(token_verify(vectors[0], strlen(vectors[0]), &p, &t), TOKEN_UNKNOWN_KEY);
	p.now = nb;
	assert_int_equal(token_verify(vectors[0], strlen(vectors[0]), &p, &t), TOKEN_OK);
	p.now = na - 1;
	assert_int_equal(token_verify(vectors[0], strlen(vectors[0]), &p, &t), TOKEN_EXPIRED);
	p.now = na;
	assert_int_equal(token_verify(vectors[0], strlen(vectors[0]), &p, &t), TOKEN_UNKNOWN_KEY);
	/* issuing checks the window too */
	assert_true(token_parse(vectors[0], strlen(vectors[0]), &t));
	assert_int_equal(token_issue(&t, &windowed, na, text, sizeof text, err, sizeof err), -1);
	assert_string_equal(err, "key \"k1\" is outside its validity window at 1795046400");
	token_keyring_clear(&windowed);
}

/* Step 3: a mac made with another key, or over other bytes. */
static void test_bad_mac(void **state)
{
	/* vector 4's mac is k2's; claim k1 */
	static const char k1_claims_k2_mac[] =
		"SW1.S.ST-DEL-001.u-000123.-.kQ2xF9aZ.1795000000.k1.0po1e_ybVR1YIyCcln4Fmg";
	static const char other_subject[] =
		"SW1.S.ST-DEL-001.u-000124.-.kQ2xF9aZ.1795000000.k1.RfpBnQooMDivzq_bf9L3IA";
	char text[TOKEN_TEXT_MAX + 1];

	(void)state;
	assert_int_equal(verify_at(k1_claims_k2_mac, NOW), TOKEN_BAD_MAC);
	assert_int_equal(verify_at(other_subject, NOW), TOKEN_BAD_MAC);
	/* the right mac of the wrong station: bad_mac wins over wrong_station */
	issue('S', "ST-OTHER", "u-000123", "-", "kQ2xF9aZ", 1795000000, text);
	memcpy(text + strlen(text) - TOKEN_MAC_CHARS, "RfpBnQooMDivzq_bf9L3IA", TOKEN_MAC_CHARS);
	assert_int_equal(verify_at(text, NOW), TOKEN_BAD_MAC);
}

/* Step 4. */
static void test_wrong_station(void **state)
{
	struct token_policy p = policy(NOW);
	struct token t;
	char text[TOKEN_TEXT_MAX + 1];

	(void)state;
	p.station = "ST-DEL-002";
	assert_int_equal(token_verify(vectors[0], strlen(vectors[0]), &p, &t), TOKEN_WRONG_STATION);
	assert_int_equal(token_verify(vectors[2], strlen(vectors[2]), &p, &t), TOKEN_WRONG_STATION);
	/* "*" is a badge for every station */
	assert_int_equal(token_verify(vectors[1], strlen(vectors[1]), &p, &t), TOKEN_OK);
	/* a badge for one station is for that station only */
	issue('B', "ST-DEL-001", "staff-9", "admin", "badge-0009", NOW + 3600, text);
	assert_int_equal(token_verify(text, strlen(text), &p, &t), TOKEN_WRONG_STATION);
	p.station = STATION;
	assert_int_equal(token_verify(text, strlen(text), &p, &t), TOKEN_OK);
	assert_int_equal(t.role, TOKEN_ROLE_ADMIN);
	/* a prefix of the station id is another station */
	p.station = "ST-DEL-0011";
	assert_int_equal(token_verify(vectors[0], strlen(vectors[0]), &p, &t), TOKEN_WRONG_STATION);
	p.station = NULL;
	assert_int_equal(token_verify(vectors[0], strlen(vectors[0]), &p, &t), TOKEN_WRONG_STATION);
	/* wrong_station comes before expired */
	p.station = "ST-DEL-002";
	p.now = 1795000000 + 61;
	assert_int_equal(token_verify(vectors[0], strlen(vectors[0]), &p, &t), TOKEN_WRONG_STATION);
}

/* Steps 5 and 6 at their boundaries, for the default and a set policy. */
static void test_expired_and_too_long(void **state)
{
	static const struct {
		size_t vector;
		int64_t now;
		enum token_reason want;
	} cases[] = {
		{ 0, 1795000000 + 60, TOKEN_OK },          /* exp + skew */
		{ 0, 1795000000 + 61, TOKEN_EXPIRED },
		{ 0, 1795000000 - 86400, TOKEN_OK },       /* exactly 24 h ahead */
		{ 0, 1795000000 - 86401, TOKEN_TOO_LONG },
		{ 2, 1795000000 + 60, TOKEN_OK },
		{ 2, 1795000000 + 61, TOKEN_EXPIRED },
		{ 2, 1795000000 - 604800, TOKEN_OK },      /* 7 d */
		{ 2, 1795000000 - 604801, TOKEN_TOO_LONG },
		{ 1, 1826536000 + 60, TOKEN_OK },
		{ 1, 1826536000 + 61, TOKEN_EXPIRED },
		{ 1, 1826536000 - 34560000, TOKEN_OK },    /* 400 d */
		{ 1, 1826536000 - 34560001, TOKEN_TOO_LONG },
		{ 1, INT64_MAX - 1, TOKEN_EXPIRED },
		{ 1, INT64_MIN, TOKEN_TOO_LONG },
	};
	struct token_policy p = policy(NOW);
	struct token t;
	char text[TOKEN_TEXT_MAX + 1];

	(void)state;
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		enum token_reason got;
		p.now = cases[i].now;
		got = token_verify(vectors[cases[i].vector], strlen(vectors[cases[i].vector]), &p, &t);
		if (got != cases[i].want)
			fail_msg("case %zu: %s, want %s", i, token_reason_str(got),
				 token_reason_str(cases[i].want));
	}
	/* the skew and the lifetimes are the policy's */
	p.skew = 0;
	p.now = 1795000001;
	assert_int_equal(token_verify(vectors[0], strlen(vectors[0]), &p, &t), TOKEN_EXPIRED);
	p.max_life_s = 3600;
	p.now = 1795000000 - 3601;
	assert_int_equal(token_verify(vectors[0], strlen(vectors[0]), &p, &t), TOKEN_TOO_LONG);
	/* an exp near the end of time neither wraps nor verifies */
	issue('B', "*", "s", "staff", "abcdef", INT64_MAX, text);
	p = policy(NOW);
	assert_int_equal(token_verify(text, strlen(text), &p, &t), TOKEN_TOO_LONG);
}

struct store_stub {
	const char *revoked, *used;
	int revoked_calls, used_calls;
};

static bool stub_revoked(const char *nonce, void *ctx)
{
	struct store_stub *s = ctx;

	s->revoked_calls++;
	return s->revoked && strcmp(nonce, s->revoked) == 0;
}

static bool stub_used(const char *nonce, void *ctx)
{
	struct store_stub *s = ctx;

	s->used_calls++;
	return s->used && strcmp(nonce, s->used) == 0;
}

/* Steps 7 and 8 through the callbacks the daemon plugs its store into. */
static void test_revoked_and_replayed(void **state)
{
	struct token_policy p = policy(NOW);
	struct store_stub s = { 0 };
	struct token t;

	(void)state;
	p.is_revoked = stub_revoked;
	p.is_used = stub_used;
	p.ctx = &s;
	assert_int_equal(token_verify(vectors[0], strlen(vectors[0]), &p, &t), TOKEN_OK);
	assert_int_equal(s.revoked_calls, 1);
	assert_int_equal(s.used_calls, 1);

	s.used = "kQ2xF9aZ";
	assert_int_equal(token_verify(vectors[0], strlen(vectors[0]), &p, &t), TOKEN_REPLAYED);
	s.used = "tj5521a";
	assert_int_equal(token_verify(vectors[2], strlen(vectors[2]), &p, &t), TOKEN_REPLAYED);
	/* revoked comes first */
	s.revoked = "tj5521a";
	assert_int_equal(token_verify(vectors[2], strlen(vectors[2]), &p, &t), TOKEN_REVOKED);
	/* a badge is reusable: step 8 is not even asked */
	s = (struct store_stub){ .used = "badge-0017" };
	assert_int_equal(token_verify(vectors[1], strlen(vectors[1]), &p, &t), TOKEN_OK);
	assert_int_equal(s.used_calls, 0);
	s.revoked = "badge-0017";
	assert_int_equal(token_verify(vectors[1], strlen(vectors[1]), &p, &t), TOKEN_REVOKED);
	/* a rejected token never reaches the store */
	s = (struct store_stub){ 0 };
	p.now = 1795000000 + 61;
	assert_int_equal(token_verify(vectors[0], strlen(vectors[0]), &p, &t), TOKEN_EXPIRED);
	assert_int_equal(s.revoked_calls + s.used_calls, 0);
	/* verify never marks: the same token verifies twice without a store */
	p = policy(NOW);
	assert_int_equal(token_verify(vectors[0], strlen(vectors[0]), &p, &t), TOKEN_OK);
	assert_int_equal(token_verify(vectors[0], strlen(vectors[0]), &p, &t), TOKEN_OK);
}

/* The order of the steps when several would fail: the first one wins. */
static void test_order(void **state)
{
	static const char malformed_and_foreign[] =
		"SW1.S.ST-DEL-002.u-000123.-.kQ2xF9aZ.01795000000.k9.RfpBnQooMDivzq_bf9L3IA";
	static const char unknown_and_bad_mac[] =
		"SW1.S.ST-DEL-002.u-000123.-.kQ2xF9aZ.1795000000.k9.RfpBnQooMDivzq_bf9L3IA";
	struct token_policy p = policy(1795000000 + 1000);
	struct store_stub s = { .revoked = "kQ2xF9aZ", .used = "kQ2xF9aZ" };
	struct token t;
	char text[TOKEN_TEXT_MAX + 1];

	(void)state;
	p.is_revoked = stub_revoked;
	p.is_used = stub_used;
	p.ctx = &s;
	assert_int_equal(token_verify(malformed_and_foreign, strlen(malformed_and_foreign), &p, &t),
			 TOKEN_MALFORMED);
	assert_int_equal(token_verify(unknown_and_bad_mac, strlen(unknown_and_bad_mac), &p, &t),
			 TOKEN_UNKNOWN_KEY);
	assert_string_equal(t.kid, "k9");
	/* expired beats revoked and replayed */
	assert_int_equal(token_verify(vectors[0], strlen(vectors[0]), &p, &t), TOKEN_EXPIRED);
	/* too long beats revoked */
	issue('S', STATION, "u", "-", "kQ2xF9aZ", NOW + 86401, text);
	p.now = NOW;
	assert_int_equal(token_verify(text, strlen(text), &p, &t), TOKEN_TOO_LONG);
	assert_int_equal(s.revoked_calls + s.used_calls, 0);
}

static void test_nonce_random(void **state)
{
	char a[TOKEN_NONCE_MAX + 1], b[TOKEN_NONCE_MAX + 1], text[TOKEN_TEXT_MAX + 1];

	(void)state;
	assert_int_equal(token_nonce_random(a), 0);
	assert_int_equal(token_nonce_random(b), 0);
	assert_int_equal(strlen(a), 16);
	assert_string_not_equal(a, b);
	issue('S', STATION, "walk-in", "-", a, NOW + 600, text);
	assert_int_equal(verify_at(text, NOW), TOKEN_OK);
}

#define SECRET_PREFIX "c2VjcmV0"  /* a secret's start, to look for in messages */

static void test_keys_errors(void **state)
{
	static const struct {
		const char *json, *message;
	} cases[] = {
		{ "[]", "kf: the top level is not a JSON object" },
		{ "{}", "kf: keys: missing (required)" },
		{ "{\"keys\":{}}", "kf: keys: is not an array" },
		{ "{\"keys\":[]}", "kf: keys: is empty; a station needs at least one key" },
		{ "{\"keys\":[1]}", "kf: keys[0]: is not an object" },
		{ "{\"kees\":[]}", "kf: kees: unknown key" },
		{ "{\"keys\":[{\"secret\":\"" K1_B64 "\"}]}", "kf: keys[0]: kid: missing (required)" },
		{ "{\"keys\":[{\"kid\":\"k 1\",\"secret\":\"" K1_B64 "\"}]}",
		  "kf: keys[0]: kid: is not a string of 1 to 8 of A-Z a-z 0-9" },
		{ "{\"keys\":[{\"kid\":\"k123456789\",\"secret\":\"" K1_B64 "\"}]}",
		  "kf: keys[0]: kid: is not a string of 1 to 8 of A-Z a-z 0-9" },
		{ "{\"keys\":[{\"kid\":1,\"secret\":\"" K1_B64 "\"}]}",
		  "kf: keys[0]: kid: is not a string of 1 to 8 of A-Z a-z 0-9" },
		{ "{\"keys\":[{\"kid\":\"k1\"}]}", "kf: keys[0] (kid \"k1\"): secret: missing (required)" },
		{ "{\"keys\":[{\"kid\":\"k1\",\"secret\":\"" SECRET_PREFIX "\"}]}",
		  "kf: keys[0] (kid \"k1\"): secret: is not standard base64 of 32 bytes" },
		/* 31 bytes, 33 bytes, url alphabet, no padding, non-canonical */
		{ "{\"keys\":[{\"kid\":\"k1\",\"secret\":\"" SECRET_PREFIX
		  "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHg==\"}]}",
		  "kf: keys[0] (kid \"k1\"): secret: is not standard base64 of 32 bytes" },
		{ "{\"keys\":[{\"kid\":\"k1\",\"secret\":\"" SECRET_PREFIX
		  "ECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8g\"}]}",
		  "kf: keys[0] (kid \"k1\"): secret: is not standard base64 of 32 bytes" },
		{ "{\"keys\":[{\"kid\":\"k1\",\"secret\":\"" SECRET_PREFIX
		  "ECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGx_dHh8=\"}]}",
		  "kf: keys[0] (kid \"k1\"): secret: is not standard base64 of 32 bytes" },
		{ "{\"keys\":[{\"kid\":\"k1\",\"secret\":\"" SECRET_PREFIX
		  "ECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8\"}]}",
		  "kf: keys[0] (kid \"k1\"): secret: is not standard base64 of 32 bytes" },
		{ "{\"keys\":[{\"kid\":\"k1\",\"secret\":\"" SECRET_PREFIX
		  "ECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh9=\"}]}",
		  "kf: keys[0] (kid \"k1\"): secret: is not standard base64 of 32 bytes" },
		{ "{\"keys\":[{\"kid\":\"k1\",\"secret\":[\"" SECRET_PREFIX "\"]}]}",
		  "kf: keys[0] (kid \"k1\"): secret: is not standard base64 of 32 bytes" },
		{ "{\"keys\":[{\"kid\":\"k1\",\"secret\":\"" K1_B64 "\",\"not_before\":\"2026-02-30T00:00:00Z\"}]}",
		  "kf: keys[0] (kid \"k1\"): not_before: is not an RFC 3339 UTC time like \"2026-01-01T00:00:00Z\"" },
		{ "{\"keys\":[{\"kid\":\"k1\",\"secret\":\"" K1_B64 "\",\"not_before\":1767225600}]}",
		  "kf: keys[0] (kid \"k1\"): not_before: is not an RFC 3339 UTC time like \"2026-01-01T00:00:00Z\"" },
		{ "{\"keys\":[{\"kid\":\"k1\",\"secret\":\"" K1_B64 "\",\"not_after\":\"2026-01-01T00:00:00+01:00\"}]}",
		  "kf: keys[0] (kid \"k1\"): not_after: is not an RFC 3339 UTC time like \"2026-01-01T00:00:00Z\"" },
		{ "{\"keys\":[{\"kid\":\"k1\",\"secret\":\"" K1_B64 "\",\"not_after\":\"2026-01-01 00:00:00Z\"}]}",
		  "kf: keys[0] (kid \"k1\"): not_after: is not an RFC 3339 UTC time like \"2026-01-01T00:00:00Z\"" },
		{ "{\"keys\":[{\"kid\":\"k1\",\"secret\":\"" K1_B64 "\",\"not_before\":\"2027-01-01T00:00:00Z\","
		  "\"not_after\":\"2027-01-01T00:00:00Z\"}]}",
		  "kf: keys[0] (kid \"k1\"): not_before is not earlier than not_after" },
		{ "{\"keys\":[{\"kid\":\"k1\",\"secret\":\"" K1_B64 "\",\"colour\":\"red\"}]}",
		  "kf: keys[0].colour: unknown key" },
		{ "{\"keys\":[{\"kid\":\"k1\",\"secret\":\"" K1_B64 "\"},"
		  "{\"kid\":\"k2\",\"secret\":\"" K2_B64 "\"},"
		  "{\"kid\":\"k1\",\"secret\":\"" K2_B64 "\"}]}",
		  "kf: keys[2] (kid \"k1\"): kid: also used by keys[0]" },
		{ "{\"keys\":[{\"kid\":\"k1\",\"secret\":\"" SECRET_PREFIX "\",}]}",
		  "kf:1:42: JSON syntax error: unexpected character" },
		{ "{\"keys\":[{\"kid\":\"k1\",\"secret\":\"" SECRET_PREFIX,
		  "kf:1:40: JSON syntax error: unexpected end of file" },
		/* json-c keeps the last of two equal keys: which secret is that? */
		{ "{\"keys\":[{\"kid\":\"k1\",\"secret\":\"" K1_B64 "\",\"secret\":\"" K2_B64 "\"}]}",
		  "kf: keys[0].secret: duplicate key" },
		{ "{\"keys\":[{\"kid\":\"k1\",\"secret\":\"" K1_B64 "\",\"s\\u0065cret\":\"" K2_B64 "\"}]}",
		  "kf: keys[0].secret: duplicate key" },
		{ "{\"keys\":[{\"kid\":\"k1\",\"secret\":\"" K1_B64 "\"}],\n"
		  "\"keys\":[{\"kid\":\"k2\",\"secret\":\"" K2_B64 "\"}]}",
		  "kf: keys: duplicate key" },
	};

	(void)state;
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct token_keyring r;
		char err[256] = "";
		int rc = token_keys_parse(cases[i].json, strlen(cases[i].json), "kf", &r, err,
					  sizeof err);
		if (rc != -1 || strcmp(err, cases[i].message) != 0)
			fail_msg("case %zu: %s\n  want: %s\n  got:  %s", i, cases[i].json,
				 cases[i].message, err);
		assert_null(strstr(err, SECRET_PREFIX));
		assert_null(strstr(err, "AAECAwQF"));
		assert_int_equal(r.n, 0);
	}
}

static void test_keys_too_many(void **state)
{
	char json[8192], err[256];
	size_t off;
	struct token_keyring r;

	(void)state;
	off = (size_t)snprintf(json, sizeof json, "{\"keys\":[");
	for (int i = 0; i <= TOKEN_MAX_KEYS; i++)
		off += (size_t)snprintf(json + off, sizeof json - off,
					"%s{\"kid\":\"k%d\",\"secret\":\"" K1_B64 "\"}", i ? "," : "", i);
	snprintf(json + off, sizeof json - off, "]}");
	assert_int_equal(token_keys_parse(json, strlen(json), "kf", &r, err, sizeof err), -1);
	assert_string_equal(err, "kf: keys: 17 entries, more than the 16 a station holds");
}

static void test_keys_good(void **state)
{
	static const char json[] =
		"{\"_comment\":\"test keys\",\"keys\":["
		"{\"_comment\":\"old\",\"kid\":\"old\",\"secret\":\"" K2_B64 "\","
		"\"not_after\":\"2026-01-01T00:00:00Z\"},"
		"{\"kid\":\"new\",\"secret\":\"" K1_B64 "\",\"not_before\":\"2025-12-01T00:00:00Z\","
		"\"not_after\":\"2027-01-01T00:00:00Z\"}]}";
	struct token_keyring r;
	char err[256];

	(void)state;
	assert_int_equal(token_keys_parse(json, strlen(json), "kf", &r, err, sizeof err), 0);
	assert_int_equal(r.n, 2);
	assert_string_equal(r.keys[0].kid, "old");
	assert_int_equal(r.keys[0].not_before, INT64_MIN);
	assert_int_equal(r.keys[0].not_after, 1767225600);
	assert_int_equal(r.keys[1].not_before, 1764547200);
	assert_int_equal(r.keys[1].not_after, 1798761600);
	for (int i = 0; i < TOKEN_SECRET_LEN; i++)
		assert_int_equal(r.keys[1].secret[i], i);
	/* rotation: both keys hold during the overlap, then only the new one */
	assert_non_null(token_key_find(&r, "old", 1767225599));
	assert_non_null(token_key_find(&r, "new", 1767225599));
	assert_null(token_key_find(&r, "old", 1767225600));
	assert_null(token_key_find(&r, "nope", 1767225599));
	token_keyring_clear(&r);
	assert_int_equal(r.n, 0);
	for (int i = 0; i < TOKEN_SECRET_LEN; i++)
		assert_int_equal(r.keys[1].secret[i], 0);
}

/* The shipped example parses, and its key windows show a rotation: on
 * 2026-11-18 only k1 verifies, from 2026-12-01 both do. */
static void test_keys_example(void **state)
{
	struct token_keyring r;
	char text[4096], err[256];
	size_t n;
	FILE *f = fopen("config/keys.example.json", "r");

	(void)state;
	assert_non_null(f);
	n = fread(text, 1, sizeof text, f);
	fclose(f);
	assert_true(n > 0 && n < sizeof text);
	if (token_keys_parse(text, n, "keys.example.json", &r, err, sizeof err) != 0)
		fail_msg("%s", err);
	assert_int_equal(r.n, 2);
	assert_non_null(token_key_find(&r, "k1", NOW));
	assert_null(token_key_find(&r, "k2", NOW));
	assert_non_null(token_key_find(&r, "k2", 1796083200));
	token_keyring_clear(&r);
}

/* Writes a new file each time: the previous one may be 0400, which only
 * root could open for writing again. */
static void write_file(const char *path, const char *text, mode_t mode)
{
	FILE *f;

	if (unlink(path) != 0)
		assert_int_equal(errno, ENOENT);
	f = fopen(path, "w");

	assert_non_null(f);
	assert_int_equal(fputs(text, f) >= 0, 1);
	assert_int_equal(fclose(f), 0);
	assert_int_equal(chmod(path, mode), 0);
}

/* The mode check is done by the loader on the open file. */
static void test_keys_file(void **state)
{
	static const struct {
		mode_t mode;
		bool ok;
	} modes[] = {
		{ 0600, true }, { 0400, true }, { 0640, false }, { 0604, false },
		{ 0620, false }, { 0644, false }, { 0660, false },
	};
	char dir[] = "/tmp/test_token.XXXXXX", path[64], err[256], want[192];
	struct token_keyring r;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof path, "%s/keys.json", dir);
	for (size_t i = 0; i < sizeof modes / sizeof modes[0]; i++) {
		write_file(path, KEYS_JSON, modes[i].mode);
		err[0] = '\0';
		assert_int_equal(token_keys_load(path, &r, err, sizeof err), modes[i].ok ? 0 : -1);
		if (modes[i].ok) {
			assert_int_equal(r.n, 2);
			continue;
		}
		snprintf(want, sizeof want,
			 "%s: mode %04o lets group or others access the keys; refusing it "
			 "(chmod 0600 and owned by the daemon's user)",
			 path, (unsigned)modes[i].mode);
		assert_string_equal(err, want);
		assert_int_equal(r.n, 0);
	}
	write_file(path, "{\"keys\":[{\"kid\":\"k1\",\"secret\":\"" SECRET_PREFIX "\"}]}", 0600);
	assert_int_equal(token_keys_load(path, &r, err, sizeof err), -1);
	snprintf(want, sizeof want,
		 "%s: keys[0] (kid \"k1\"): secret: is not standard base64 of 32 bytes", path);
	assert_string_equal(err, want);
	assert_int_equal(unlink(path), 0);
	assert_int_equal(token_keys_load(path, &r, err, sizeof err), -1);
	snprintf(want, sizeof want, "%s: cannot open: No such file or directory", path);
	assert_string_equal(err, want);
	assert_int_equal(token_keys_load(dir, &r, err, sizeof err), -1);
	snprintf(want, sizeof want, "%s: not a regular file", dir);
	assert_string_equal(err, want);
	assert_int_equal(rmdir(dir), 0);
}

/* A FIFO at the key file's path is refused at once: opening it must not
 * wait for a writer (that would hang swapd's loop on a reload). The alarm
 * turns a hang into a failure. */
static void test_keys_fifo(void **state)
{
	char dir[] = "/tmp/test_token.XXXXXX", path[64], err[256], want[192];
	struct token_keyring r;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof path, "%s/keys.json", dir);
	assert_int_equal(mkfifo(path, 0600), 0);
	alarm(10);
	assert_int_equal(token_keys_load(path, &r, err, sizeof err), -1);
	alarm(0);
	snprintf(want, sizeof want, "%s: not a regular file", path);
	assert_string_equal(err, want);
	assert_int_equal(unlink(path), 0);
	assert_int_equal(rmdir(dir), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_reason_strings),
		cmocka_unit_test(test_vectors_verify),
		cmocka_unit_test(test_issue_reproduces_vectors),
		cmocka_unit_test(test_single_char_flips),
		cmocka_unit_test(test_grammar),
		cmocka_unit_test(test_nul_and_length),
		cmocka_unit_test(test_trim_scan),
		cmocka_unit_test(test_issue_boundaries),
		cmocka_unit_test(test_issue_errors),
		cmocka_unit_test(test_issue_small_buffer),
		cmocka_unit_test(test_unknown_key),
		cmocka_unit_test(test_bad_mac),
		cmocka_unit_test(test_wrong_station),
		cmocka_unit_test(test_expired_and_too_long),
		cmocka_unit_test(test_revoked_and_replayed),
		cmocka_unit_test(test_order),
		cmocka_unit_test(test_nonce_random),
		cmocka_unit_test(test_keys_errors),
		cmocka_unit_test(test_keys_too_many),
		cmocka_unit_test(test_keys_good),
		cmocka_unit_test(test_keys_example),
		cmocka_unit_test(test_keys_file),
		cmocka_unit_test(test_keys_fifo),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
