/* libFuzzer target for the token parser and verifier (daemon/token.c), with
 * properties beyond "no crash" that a fuzzer can check:
 *   - token_verify says malformed exactly when token_parse refuses;
 *   - the grammar has one spelling per token: re-issuing the parsed fields
 *     gives back the signed part byte for byte;
 *   - a token issued from parsed fields passes steps 1 to 3.
 * Inputs starting with '{' also go through the key-file parser. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/token.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The contract's test key k1 (bytes 0..31), under whatever kid the input
 * names, valid at all times. */
static void ring_for(const char *kid, struct token_keyring *ring)
{
	memset(ring, 0, sizeof *ring);
	ring->n = 1;
	memcpy(ring->keys[0].kid, kid, strlen(kid) + 1);
	for (int i = 0; i < TOKEN_SECRET_LEN; i++)
		ring->keys[0].secret[i] = (unsigned char)i;
	ring->keys[0].not_before = INT64_MIN;
	ring->keys[0].not_after = INT64_MAX;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *text = (const char *)data;
	struct token_keyring ring;
	struct token_policy p;
	struct token t, v;
	char again[TOKEN_TEXT_MAX + 1], err[256];
	bool parsed;
	enum token_reason r;

	if (size > 0 && text[0] == '{') {
		token_keys_parse(text, size, "fuzz", &ring, err, sizeof err);
		token_keyring_clear(&ring);
	}
	(void)token_trim_scan(text, size);
	parsed = token_parse(text, size, &t);
	ring_for(parsed ? t.kid : "k1", &ring);
	token_policy_defaults(&p);
	p.station = "ST-DEL-001";
	p.now = 1794950000;
	p.keys = &ring;
	r = token_verify(text, size, &p, &v);
	if ((r == TOKEN_MALFORMED) == parsed)
		abort();
	if (!parsed)
		return 0;
	if (token_issue(&t, &ring, p.now, again, sizeof again, err, sizeof err) != 0)
		abort();
	size_t signed_len = strlen(again) - TOKEN_MAC_CHARS;
	if (signed_len > size || memcmp(again, text, signed_len) != 0)
		abort();
	r = token_verify(again, strlen(again), &p, &v);
	if (r == TOKEN_MALFORMED || r == TOKEN_UNKNOWN_KEY || r == TOKEN_BAD_MAC)
		abort();
	return 0;
}
