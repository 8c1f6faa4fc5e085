/* Token verification speed, as ratios against baselines measured in the
 * same process on the same bytes: a bare HMAC-SHA256 of the signed part (the
 * floor: step 3 cannot be cheaper) and the parse alone. Bounded in time
 * (argument: seconds per case, default 1); never a pass/fail assertion. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "daemon/token.h"

static const char vector[] =
	"SW1.S.ST-DEL-001.u-000123.-.kQ2xF9aZ.1795000000.k1.RfpBnQooMDivzq_bf9L3IA";
static const char forged[] =
	"SW1.S.ST-DEL-001.u-000123.-.kQ2xF9aZ.1795000000.k1.RfpBnQooMDivzq_bf9L3IQ";

enum bench_case { HMAC_ONLY, PARSE_ONLY, VERIFY_OK, VERIFY_BAD_MAC };
#define NCASES 4
#define ROUNDS 20

struct ctx {
	struct token_keyring ring;
	struct token_policy policy;
	size_t signed_len;
};

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* One operation of case c; returns something the compiler cannot drop. */
static unsigned run_once(const struct ctx *x, enum bench_case c)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	struct token t;

	switch (c) {
	case HMAC_ONLY:
		HMAC(EVP_sha256(), x->ring.keys[0].secret, TOKEN_SECRET_LEN,
		     (const unsigned char *)vector, x->signed_len, md, &mdlen);
		return md[0] + mdlen;
	case PARSE_ONLY:
		return token_parse(vector, sizeof vector - 1, &t);
	case VERIFY_OK:
		return token_verify(vector, sizeof vector - 1, &x->policy, &t);
	case VERIFY_BAD_MAC:
		return token_verify(forged, sizeof forged - 1, &x->policy, &t);
	}
	return 0;
}

/* Runs case c for about `seconds`, adding to its count and time. */
static void measure(const struct ctx *x, enum bench_case c, double seconds, double *n,
		    double *elapsed)
{
	volatile unsigned sink = 0;
	double start = now_s(), took;
	unsigned long done = 0;

	do {
		for (int i = 0; i < 1024; i++)
			sink += run_once(x, c);
		done += 1024;
		took = now_s() - start;
	} while (took < seconds);
	(void)sink;
	*n += (double)done;
	*elapsed += took;
}

int main(int argc, char **argv)
{
	static const char keys[] =
		"{\"keys\":[{\"kid\":\"k1\",\"secret\":\"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\"}]}";
	double seconds = argc > 1 ? atof(argv[1]) : 1.0;
	double n[NCASES] = { 0 }, elapsed[NCASES] = { 0 }, hmac, parse, ok, bad;
	struct token t;
	struct ctx x;
	char err[256];

	if (seconds <= 0 || seconds > 60) {
		fprintf(stderr, "usage: %s [SECONDS per case, 0 < s <= 60]\n", argv[0]);
		return 2;
	}
	if (token_keys_parse(keys, sizeof keys - 1, "bench", &x.ring, err, sizeof err) != 0) {
		fprintf(stderr, "%s\n", err);
		return 1;
	}
	token_policy_defaults(&x.policy);
	x.policy.station = "ST-DEL-001";
	x.policy.now = 1794950000;
	x.policy.keys = &x.ring;
	x.signed_len = (size_t)(strrchr(vector, '.') - vector);
	if (token_verify(vector, sizeof vector - 1, &x.policy, &t) != TOKEN_OK ||
	    token_verify(forged, sizeof forged - 1, &x.policy, &t) != TOKEN_BAD_MAC) {
		fprintf(stderr, "bench-token: the test vector does not verify\n");
		return 1;
	}
	/* Interleaved in short rounds, so a shared machine's drift (frequency,
	 * other loads) hits every case alike and the ratios stay meaningful. */
	for (int round = 0; round < ROUNDS; round++)
		for (int c = 0; c < NCASES; c++)
			measure(&x, (enum bench_case)c, seconds / ROUNDS, &n[c], &elapsed[c]);
	hmac = n[HMAC_ONLY] / elapsed[HMAC_ONLY];
	parse = n[PARSE_ONLY] / elapsed[PARSE_ONLY];
	ok = n[VERIFY_OK] / elapsed[VERIFY_OK];
	bad = n[VERIFY_BAD_MAC] / elapsed[VERIFY_BAD_MAC];
	printf("bench-token: %s, %.1f s per case in %d rounds, token of %zu bytes\n",
	       OpenSSL_version(OPENSSL_VERSION), seconds, ROUNDS, sizeof vector - 1);
	printf("  %-34s %12.0f /s  baseline\n", "HMAC-SHA256 of the signed part", hmac);
	printf("  %-34s %12.0f /s  %6.2fx the HMAC rate\n", "parse only (step 1)", parse,
	       parse / hmac);
	printf("  %-34s %12.0f /s  %6.2fx the HMAC rate\n", "verify, accepted (steps 1-6)", ok,
	       ok / hmac);
	printf("  %-34s %12.0f /s  %6.2fx the HMAC rate\n", "verify, forged mac (stops at 3)", bad,
	       bad / hmac);
	printf("  a verification costs %.2f bare HMACs; parsing is %.1f%% of it\n", hmac / ok,
	       100.0 * ok / parse);
	token_keyring_clear(&x.ring);
	return 0;
}
