#include "daemon/qr.h"

#include <stdlib.h>

int qr_dark(const QRcode *qr, int x, int y)
{
	if (x < 0 || y < 0 || x >= qr->width || y >= qr->width)
		return 0;
	return qr->data[y * qr->width + x] & 1;
}

int qr_svg_write(const QRcode *qr, int px, FILE *f)
{
	int full = qr->width + 2 * QR_QUIET;

	fprintf(f, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
		   "<svg xmlns=\"http://www.w3.org/2000/svg\" version=\"1.1\" "
		   "viewBox=\"0 0 %d %d\" width=\"%d\" height=\"%d\" shape-rendering=\"crispEdges\">\n"
		   "<rect width=\"%d\" height=\"%d\" fill=\"#ffffff\"/>\n<path fill=\"#000000\" d=\"",
		full, full, full * px, full * px, full, full);
	for (int y = 0; y < qr->width; y++) {
		for (int x = 0; x < qr->width;) {
			int run = 0;
			while (x + run < qr->width && qr_dark(qr, x + run, y))
				run++;
			if (run)
				fprintf(f, "M%d %dh%dv1h-%dz", x + QR_QUIET, y + QR_QUIET, run, run);
			x += run ? run : 1;
		}
	}
	fprintf(f, "\"/>\n</svg>\n");
	return ferror(f) ? -1 : 0;
}

char *qr_svg_text(const char *text, int px)
{
	char *buf = NULL;
	size_t len = 0;
	/* Byte mode, case-sensitive: a token has lower-case letters, which the
	 * alphanumeric mode cannot hold; libqrencode splits modes itself. */
	QRcode *qr = QRcode_encodeString(text, 0, QR_ECLEVEL_M, QR_MODE_8, 1);
	FILE *f = qr ? open_memstream(&buf, &len) : NULL;

	if (!f) {
		if (qr)
			QRcode_free(qr);
		return NULL;
	}
	int rc = qr_svg_write(qr, px, f);
	QRcode_free(qr);
	if (fclose(f) != 0 || rc != 0) {
		free(buf);
		return NULL;
	}
	return buf;
}
