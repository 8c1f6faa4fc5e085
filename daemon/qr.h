/* QR codes drawn for people to scan: the kiosk's walk-in ticket (kiosk.c)
 * and swaptoken's renderings share these, so both draw the same code. A
 * library without daemon state. */
#ifndef SWAPD_QR_H
#define SWAPD_QR_H

#include <stdio.h>

#include <qrencode.h>

/* The quiet zone: 4 modules on every side (ISO/IEC 18004). */
#define QR_QUIET 4

/* Module (x, y) of the symbol: 1 dark, 0 light (outside it: light). */
int qr_dark(const QRcode *qr, int x, int y);

/* qr as a standalone SVG on f, px pixels a module for its width and height:
 * one module is one user unit, each run of dark modules in a row one
 * rectangle of a single path. 0, or -1 when f could not take it. */
int qr_svg_write(const QRcode *qr, int px, FILE *f);

/* text encoded in byte mode, error correction M, as an SVG document
 * (malloc'd, the caller frees); NULL when encoding or memory failed. */
char *qr_svg_text(const char *text, int px);

#endif
