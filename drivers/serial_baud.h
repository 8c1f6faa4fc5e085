/* The serial rates swapd's serial lines take (rack.baud, scanner.baud):
 * one list, checked by the config and by the scanner driver alike. */
#ifndef SWAPD_SERIAL_BAUD_H
#define SWAPD_SERIAL_BAUD_H

#include <stdbool.h>

/* Whether baud is a standard rate from 1200 to 230400. */
static inline bool serial_baud_standard(long long baud)
{
	static const long long rates[] = { 1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200, 230400 };

	for (unsigned i = 0; i < sizeof rates / sizeof rates[0]; i++)
		if (rates[i] == baud)
			return true;
	return false;
}

#endif
