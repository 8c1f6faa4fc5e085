/* swaptoken: issue, verify and render station tokens (daemon/TOKENS.md),
 * with the same library swapd uses, so what it says is what a station does.
 * It has no store: verify skips the revocation and replay steps (7, 8). */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <png.h>
#include <qrencode.h>

#include "daemon/qr.h"
#include "daemon/token.h"

/* Exit codes: 1 is kept for "verify rejected the token", so a script can
 * tell a rejection from a tool that could not do its job. */
#define EXIT_REJECTED 1
#define EXIT_USAGE 2

/* QR rendering (daemon/qr.h, with its quiet zone): 8 pixels per module in
 * the PNG, which zbarimg and phone cameras read without trouble. */
#define PNG_MODULE_PX 8

static const char usage_text[] =
	"usage: swaptoken issue --keys FILE --kid K --kind S|B|T --station ID --subject X\n"
	"                       [--arg A] [--nonce N] --ttl SECONDS [--now UNIX]\n"
	"       swaptoken verify --keys FILE --station ID [--now UNIX] TOKEN|-\n"
	"       swaptoken qr [--format utf8|svg|png] [--out FILE] TOKEN\n"
	"\n"
	"issue   prints a signed token (format: shared/spec/token.md). --arg is - for S\n"
	"        (the default), staff or admin for B, p<N>d<M> for T. --nonce defaults\n"
	"        to 16 random characters, --now to the current time; exp = now + ttl.\n"
	"verify  prints ok or the reason code (malformed, unknown_key, bad_mac,\n"
	"        wrong_station, expired, too_long) and exits 0 or 1. Default skew and\n"
	"        lifetimes (60 s; S 24 h, T 7 d, B 400 d). swaptoken has no store, so\n"
	"        steps 7 and 8 (revoked, replayed) are NOT checked: only swapd can.\n"
	"        TOKEN - reads one line from stdin and strips its CR/LF, as a scanner.\n"
	"qr      renders TOKEN as a QR code (EC level M): utf8 half blocks for a\n"
	"        terminal with a dark background (the default), a standalone SVG, or\n"
	"        a PNG; to --out FILE or stdout.\n"
	"\n"
	"The key file must be mode 0600 (format: config/KEYS.md). Exit status: 0 done,\n"
	"1 token rejected (verify), 2 usage or any other error.\n";

static int usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Says what is wrong on stderr; returns the usage exit status. */
static int usage_error(const char *fmt, ...)
{
	va_list ap;

	fputs("swaptoken: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputs("\n(swaptoken --help for usage)\n", stderr);
	return EXIT_USAGE;
}

/* A decimal int64 with nothing else around it. */
static bool parse_int64(const char *s, int64_t *out)
{
	char *end;
	long long v;

	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno || end == s || *end)
		return false;
	*out = v;
	return true;
}

/* Copies a command-line value into a token field, refusing rather than
 * truncating what does not fit (a cut value could be valid). */
static bool set_field(char *dst, size_t size, const char *val, const char *name)
{
	if (strlen(val) >= size) {
		fprintf(stderr, "swaptoken: --%s \"%s\" is longer than %zu characters\n", name, val,
			size - 1);
		return false;
	}
	memcpy(dst, val, strlen(val) + 1);
	return true;
}

static bool load_keys(const char *path, struct token_keyring *ring)
{
	char err[512];

	if (token_keys_load(path, ring, err, sizeof err) != 0) {
		fprintf(stderr, "swaptoken: %s\n", err);
		return false;
	}
	return true;
}

/* Long options only; each is known by a letter, and each subcommand lists
 * the letters it accepts. */
static const struct option options[] = {
	{ "keys", required_argument, NULL, 'K' },
	{ "kid", required_argument, NULL, 'i' },
	{ "kind", required_argument, NULL, 'k' },
	{ "station", required_argument, NULL, 's' },
	{ "subject", required_argument, NULL, 'u' },
	{ "arg", required_argument, NULL, 'a' },
	{ "nonce", required_argument, NULL, 'n' },
	{ "ttl", required_argument, NULL, 't' },
	{ "now", required_argument, NULL, 'w' },
	{ "format", required_argument, NULL, 'f' },
	{ "out", required_argument, NULL, 'o' },
	{ "help", no_argument, NULL, 'h' },
	{ 0 },
};

struct args {
	const char *val[128];   /* by option letter; NULL if not given */
	int npos;
	char **pos;             /* the arguments left */
};

static int parse_args(int argc, char **argv, const char *allowed, struct args *a)
{
	int c;

	memset(a, 0, sizeof *a);
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "h", options, NULL)) != -1) {
		if (c == 'h') {
			fputs(usage_text, stdout);
			exit(0);
		}
		if (c == '?')
			return usage_error("%s: unknown option, or its value is missing",
					   argv[optind - 1]);
		if (!strchr(allowed, c)) {
			const struct option *o = options;
			while (o->val != c)
				o++;
			return usage_error("--%s is not an option of %s", o->name, argv[0]);
		}
		a->val[c] = optarg;
	}
	a->npos = argc - optind;
	a->pos = argv + optind;
	return 0;
}

static int need(const struct args *a, int opt, const char *name)
{
	return a->val[opt] ? 0 : usage_error("--%s is required", name);
}

static int get_now(const struct args *a, int64_t *now)
{
	if (!a->val['w']) {
		*now = (int64_t)time(NULL);
		return 0;
	}
	if (!parse_int64(a->val['w'], now) || *now < 0)
		return usage_error("--now \"%s\" is not Unix seconds", a->val['w']);
	return 0;
}

static int cmd_issue(int argc, char **argv)
{
	const char *allowed = "Kiksuantw";
	struct token_keyring ring;
	struct token in = { 0 };
	struct args a;
	char text[TOKEN_TEXT_MAX + 1], err[256];
	int64_t now, ttl;
	const char *kind;
	int rc;

	if ((rc = parse_args(argc, argv, allowed, &a)) != 0)
		return rc;
	if (a.npos)
		return usage_error("issue takes no argument \"%s\"", a.pos[0]);
	if ((rc = need(&a, 'K', "keys")) || (rc = need(&a, 'i', "kid")) ||
	    (rc = need(&a, 'k', "kind")) || (rc = need(&a, 's', "station")) ||
	    (rc = need(&a, 'u', "subject")) || (rc = need(&a, 't', "ttl")) ||
	    (rc = get_now(&a, &now)))
		return rc;
	kind = a.val['k'];
	if (strlen(kind) != 1 || !strchr("SBT", kind[0]))
		return usage_error("--kind \"%s\" is not S, B or T", kind);
	in.kind = (enum token_kind)kind[0];
	if (!a.val['a'] && in.kind != TOKEN_SWAP)
		return usage_error("--arg is required for kind %s (B: staff or admin, T: p<N>d<M>)",
				   kind);
	if (!parse_int64(a.val['t'], &ttl) || ttl <= 0 ||
	    __builtin_add_overflow(now, ttl, &in.exp))
		return usage_error("--ttl \"%s\" is not a positive number of seconds", a.val['t']);
	if (!set_field(in.kid, sizeof in.kid, a.val['i'], "kid") ||
	    !set_field(in.station, sizeof in.station, a.val['s'], "station") ||
	    !set_field(in.subject, sizeof in.subject, a.val['u'], "subject") ||
	    !set_field(in.arg, sizeof in.arg, a.val['a'] ? a.val['a'] : "-", "arg"))
		return EXIT_USAGE;
	if (a.val['n']) {
		if (!set_field(in.nonce, sizeof in.nonce, a.val['n'], "nonce"))
			return EXIT_USAGE;
	} else if (token_nonce_random(in.nonce) != 0) {
		fprintf(stderr, "swaptoken: the random generator failed\n");
		return EXIT_USAGE;
	}
	if (!load_keys(a.val['K'], &ring))
		return EXIT_USAGE;
	rc = token_issue(&in, &ring, now, text, sizeof text, err, sizeof err);
	token_keyring_clear(&ring);
	if (rc != 0) {
		fprintf(stderr, "swaptoken: %s\n", err);
		return EXIT_USAGE;
	}
	printf("%s\n", text);
	return 0;
}

static int cmd_verify(int argc, char **argv)
{
	const char *allowed = "Ksw";
	struct token_keyring ring;
	struct token_policy p;
	struct token t;
	struct args a;
	enum token_reason r;
	char *line = NULL;
	const char *text;
	size_t len, cap = 0;
	int64_t now;
	int rc;

	if ((rc = parse_args(argc, argv, allowed, &a)) != 0)
		return rc;
	if (a.npos != 1)
		return usage_error("verify takes exactly one TOKEN (or -)");
	if ((rc = need(&a, 'K', "keys")) || (rc = need(&a, 's', "station")) ||
	    (rc = get_now(&a, &now)))
		return rc;
	text = a.pos[0];
	len = strlen(text);
	if (strcmp(text, "-") == 0) {
		ssize_t n = getline(&line, &cap, stdin);
		if (n < 0) {
			free(line);
			return usage_error("no token on stdin");
		}
		text = line;
		len = token_trim_scan(line, (size_t)n);
	}
	if (!load_keys(a.val['K'], &ring)) {
		free(line);
		return EXIT_USAGE;
	}
	token_policy_defaults(&p);
	p.station = a.val['s'];
	p.now = now;
	p.keys = &ring;
	r = token_verify(text, len, &p, &t);
	token_keyring_clear(&ring);
	free(line);
	printf("%s\n", token_reason_str(r));
	return r == TOKEN_OK ? 0 : EXIT_REJECTED;
}

/* Two module rows per text line with half blocks. Light modules are drawn
 * (as qrencode -t UTF8 does), so on a dark terminal the code reads as dark
 * on light; the row below the last quiet-zone row stays background. */
static int write_utf8(const QRcode *qr, FILE *f)
{
	/* indexed by top_dark | bottom_dark << 1 */
	static const char *const cell[4] = { "\u2588", "\u2584", "\u2580", " " };
	int full = qr->width + 2 * QR_QUIET;

	for (int y = 0; y < full; y += 2) {
		for (int x = 0; x < full; x++) {
			int top = qr_dark(qr, x - QR_QUIET, y - QR_QUIET);
			int bottom = y + 1 < full ? qr_dark(qr, x - QR_QUIET, y + 1 - QR_QUIET) : 1;
			fputs(cell[top | bottom << 1], f);
		}
		fputc('\n', f);
	}
	return 0;
}

static int write_svg(const QRcode *qr, FILE *f)
{
	return qr_svg_write(qr, PNG_MODULE_PX, f);
}

/* An 8-bit grayscale PNG through libpng; libpng reports errors by longjmp. */
static int write_png(const QRcode *qr, FILE *f)
{
	int side = (qr->width + 2 * QR_QUIET) * PNG_MODULE_PX;
	png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
	png_infop info = png ? png_create_info_struct(png) : NULL;
	png_bytep row = malloc((size_t)side);

	if (!png || !info || !row) {
		png_destroy_write_struct(&png, &info);
		free(row);
		fprintf(stderr, "swaptoken: out of memory\n");
		return -1;
	}
	if (setjmp(png_jmpbuf(png))) {
		png_destroy_write_struct(&png, &info);
		free(row);
		fprintf(stderr, "swaptoken: writing the PNG failed\n");
		return -1;
	}
	png_init_io(png, f);
	png_set_IHDR(png, info, (png_uint_32)side, (png_uint_32)side, 8, PNG_COLOR_TYPE_GRAY,
		     PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
	png_write_info(png, info);
	for (int y = 0; y < side; y++) {
		for (int x = 0; x < side; x++)
			row[x] = qr_dark(qr, x / PNG_MODULE_PX - QR_QUIET, y / PNG_MODULE_PX - QR_QUIET) ? 0 : 255;
		png_write_row(png, row);
	}
	png_write_end(png, NULL);
	png_destroy_write_struct(&png, &info);
	free(row);
	return 0;
}

static int cmd_qr(int argc, char **argv)
{
	const char *allowed = "fo";
	const char *format, *out;
	int (*writer)(const QRcode *, FILE *);
	struct token t;
	struct args a;
	QRcode *qr;
	FILE *f;
	int rc;

	if ((rc = parse_args(argc, argv, allowed, &a)) != 0)
		return rc;
	if (a.npos != 1)
		return usage_error("qr takes exactly one TOKEN");
	format = a.val['f'] ? a.val['f'] : "utf8";
	out = a.val['o'];
	if (strcmp(format, "utf8") == 0)
		writer = write_utf8;
	else if (strcmp(format, "svg") == 0)
		writer = write_svg;
	else if (strcmp(format, "png") == 0)
		writer = write_png;
	else
		return usage_error("--format \"%s\" is not utf8, svg or png", format);
	/* Only what a station could accept is worth printing. */
	if (!token_parse(a.pos[0], strlen(a.pos[0]), &t))
		return usage_error("\"%s\" is not a token (grammar of shared/spec/token.md)",
				   a.pos[0]);
	if (!out && writer == write_png && isatty(STDOUT_FILENO))
		return usage_error("refusing to write a PNG to a terminal; use --out FILE");
	/* Byte mode, case-sensitive: the token has lower-case letters, which
	 * the alphanumeric mode cannot hold; libqrencode splits modes itself. */
	qr = QRcode_encodeString(a.pos[0], 0, QR_ECLEVEL_M, QR_MODE_8, 1);
	if (!qr) {
		fprintf(stderr, "swaptoken: QR encoding failed: %s\n", strerror(errno));
		return EXIT_USAGE;
	}
	f = out ? fopen(out, "wb") : stdout;
	if (!f) {
		fprintf(stderr, "swaptoken: %s: %s\n", out, strerror(errno));
		QRcode_free(qr);
		return EXIT_USAGE;
	}
	rc = writer(qr, f);
	QRcode_free(qr);
	if ((out ? fclose(f) : fflush(f)) != 0 || rc != 0) {
		if (rc == 0)
			fprintf(stderr, "swaptoken: %s: %s\n", out ? out : "stdout", strerror(errno));
		return EXIT_USAGE;
	}
	return 0;
}

int main(int argc, char **argv)
{
	if (argc < 2)
		return usage_error("a subcommand is required: issue, verify or qr");
	if (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0) {
		fputs(usage_text, stdout);
		return 0;
	}
	if (strcmp(argv[1], "issue") == 0)
		return cmd_issue(argc - 1, argv + 1);
	if (strcmp(argv[1], "verify") == 0)
		return cmd_verify(argc - 1, argv + 1);
	if (strcmp(argv[1], "qr") == 0)
		return cmd_qr(argc - 1, argv + 1);
	return usage_error("\"%s\" is not a subcommand (issue, verify, qr)", argv[1]);
}
