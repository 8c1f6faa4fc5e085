/* The slot controller on a TI Stellaris LM3S6965 (Cortex-M3), as QEMU's
 * lm3s6965evb emulates it: everything part-specific lives here (vector
 * table, reset, clock, SysTick, UART0, GPIO pins and the main loop), so a
 * port to another MCU replaces this file and the linker script only.
 *
 * Pins (evaluation board stand-ins for the slot board):
 *   PA0/PA1  UART0 RX/TX to the RS-485 transceiver, PD0 its driver enable
 *   PB0..4   unit id straps: unit = 1 + PB[4:0]
 *   PE0      door sensor, high = open (reed switch with external pull-up)
 *   PE2      battery presence, high = present
 *   PF0      lock actuator, high = locked (the board's user LED)
 *   PF1      charger enable
 * The evaluation board has no lock microswitch: the lock position is read
 * back from the actuator pin, so a stuck lock cannot be seen here; on the
 * slot board LOCK_SENSE_PIN names the microswitch input. The BMS link
 * (SMBus or CAN, depending on the pack) has no driver yet: the HAL reports
 * "BMS not answering", which the slot logic treats as BMS invalid whenever
 * a battery is present. The charger current limit is not output (no
 * DAC/PWM driver yet); charger enable is. */
#include <stdint.h>

#include "firmware/fw.h"
#include "firmware/hal.h"

#define REG(a) (*(volatile uint32_t *)(a))

/* System control (LM3S6965 datasheet, section 6) */
#define SYSCTL_RIS REG(0x400FE050)
#define SYSCTL_RCC REG(0x400FE060)
#define SYSCTL_RCGC1 REG(0x400FE104)
#define SYSCTL_RCGC2 REG(0x400FE108)
#define RCC_BYPASS (1u << 11)
#define RCC_PWRDN (1u << 13)
#define RCC_USESYSDIV (1u << 22)
#define RIS_PLLLRIS (1u << 6)

/* SysTick (ARMv7-M architecture reference, B3.3) */
#define SYST_CSR REG(0xE000E010)
#define SYST_RVR REG(0xE000E014)
#define SYST_CVR REG(0xE000E018)
#define SCB_ICSR REG(0xE000ED04)
#define ICSR_PENDSTSET (1u << 26)

/* UART0 (PL011) */
#define UART0 0x4000C000u
#define UART_DR REG(UART0 + 0x000)
#define UART_FR REG(UART0 + 0x018)
#define UART_IBRD REG(UART0 + 0x024)
#define UART_FBRD REG(UART0 + 0x028)
#define UART_LCRH REG(UART0 + 0x02C)
#define UART_CTL REG(UART0 + 0x030)
#define FR_BUSY (1u << 3)
#define FR_RXFE (1u << 4)
#define FR_TXFF (1u << 5)

/* GPIO ports (PL061 with Stellaris extensions) */
#define GPIO_A 0x40004000u
#define GPIO_B 0x40005000u
#define GPIO_D 0x40007000u
#define GPIO_E 0x40024000u
#define GPIO_F 0x40025000u
#define GPIO_DATA(p) REG((p) + 0x3FC) /* all 8 bits unmasked */
#define GPIO_DIR(p) REG((p) + 0x400)
#define GPIO_AFSEL(p) REG((p) + 0x420)
#define GPIO_DEN(p) REG((p) + 0x51C)

#define DOOR_PIN (1u << 0)      /* port E */
#define PRESENT_PIN (1u << 2)   /* port E */
#define LOCK_PIN (1u << 0)      /* port F */
#define LOCK_SENSE_PORT GPIO_F
#define LOCK_SENSE_PIN LOCK_PIN
#define CHARGER_PIN (1u << 1)   /* port F */
#define DE_PIN (1u << 0)        /* port D */

#define CPU_HZ 50000000u
#define BAUD 19200u

static volatile uint32_t ticks_ms;
static struct fw fw;

/* Microseconds since reset (wraps after 71 minutes), from the SysTick
 * millisecond count and the current value of its down-counter. When the
 * counter has just reloaded but its interrupt is still pending, the count
 * is one behind: without the correction the clock would step back. */
static uint32_t now_us(void)
{
	uint32_t ms, val, pending;

	do {
		ms = ticks_ms;
		val = SYST_CVR;
		pending = SCB_ICSR & ICSR_PENDSTSET;
	} while (ms != ticks_ms);
	if (pending && val > CPU_HZ / 2000u)
		ms++;
	return ms * 1000u + (CPU_HZ / 1000u - 1u - val) / (CPU_HZ / 1000000u);
}

/* 50 MHz from the PLL: 8 MHz crystal, PLL 400 MHz / 2, SYSDIV /4. The PLL
 * lock wait is bounded: running on the crystal is better than hanging. */
static void clock_init(void)
{
	uint32_t rcc = SYSCTL_RCC;

	rcc |= RCC_BYPASS;
	rcc &= ~(0xFu << 23 | 0x1Fu << 6 | 0x3u << 4);
	rcc |= 3u << 23 | RCC_USESYSDIV | 0xEu << 6; /* SYSDIV 3, XTAL 8 MHz, main osc */
	SYSCTL_RCC = rcc;
	SYSCTL_RCC = rcc & ~RCC_PWRDN;
	for (uint32_t i = 0; i < 100000u && !(SYSCTL_RIS & RIS_PLLLRIS); i++)
		;
	SYSCTL_RCC = rcc & ~(RCC_PWRDN | RCC_BYPASS);
}

static void io_init(void)
{
	SYSCTL_RCGC1 |= 1u << 0;                                  /* UART0 */
	SYSCTL_RCGC2 |= 1u << 0 | 1u << 1 | 1u << 3 | 1u << 4 | 1u << 5; /* A B D E F */

	GPIO_AFSEL(GPIO_A) |= 0x3u;
	GPIO_DEN(GPIO_A) |= 0x3u;
	GPIO_DEN(GPIO_B) |= 0x1Fu;
	GPIO_DIR(GPIO_D) |= DE_PIN;
	GPIO_DEN(GPIO_D) |= DE_PIN;
	GPIO_DEN(GPIO_E) |= DOOR_PIN | PRESENT_PIN;
	GPIO_DIR(GPIO_F) |= LOCK_PIN | CHARGER_PIN;
	GPIO_DEN(GPIO_F) |= LOCK_PIN | CHARGER_PIN;
	GPIO_DATA(GPIO_F) = LOCK_PIN; /* power-up: locked, charger off */

	/* RTU framing: 8 data bits, even parity, 1 stop bit (serial line
	 * v1.02 section 2.5.1, the default), FIFOs on. */
	UART_CTL = 0;
	UART_IBRD = CPU_HZ / (16u * BAUD);
	UART_FBRD = ((CPU_HZ % (16u * BAUD)) * 64u + 8u * BAUD) / (16u * BAUD);
	UART_LCRH = 0x60u | 0x10u | 0x04u | 0x02u; /* WLEN 8, FEN, EPS, PEN */
	UART_CTL = 0x301u;                          /* UARTEN, TXE, RXE */

	SYST_RVR = CPU_HZ / 1000u - 1u;
	SYST_CVR = 0;
	SYST_CSR = 0x7u; /* processor clock, interrupt, enable */
}

static void lm3s_send(void *ctx, const uint8_t *buf, size_t len)
{
	(void)ctx;
	GPIO_DATA(GPIO_D) |= DE_PIN;
	for (size_t i = 0; i < len; i++) {
		while (UART_FR & FR_TXFF)
			;
		UART_DR = buf[i];
	}
	/* release the line only after the last stop bit */
	while (UART_FR & FR_BUSY)
		;
	GPIO_DATA(GPIO_D) &= ~DE_PIN;
}

static void lm3s_sense(void *ctx, struct slot_sensors *s)
{
	uint32_t e = GPIO_DATA(GPIO_E);

	(void)ctx;
	s->present = (e & PRESENT_PIN) != 0;
	s->door_open = (e & DOOR_PIN) != 0;
	s->lock_closed = (GPIO_DATA(LOCK_SENSE_PORT) & LOCK_SENSE_PIN) != 0;
	s->bms_ok = false;
}

static void lm3s_actuate(void *ctx, const struct slot_outputs *o)
{
	uint32_t f = GPIO_DATA(GPIO_F) & ~(LOCK_PIN | CHARGER_PIN);

	(void)ctx;
	GPIO_DATA(GPIO_F) = f | (o->lock ? LOCK_PIN : 0) | (o->charger_on ? CHARGER_PIN : 0);
}

static const struct hal_ops lm3s_ops = { lm3s_send, lm3s_sense, lm3s_actuate };

int main(void);
int main(void)
{
	clock_init();
	io_init();
	fw_init(&fw, (uint8_t)(1u + (GPIO_DATA(GPIO_B) & 0x1Fu)), BAUD, &lm3s_ops, NULL, NULL,
		NULL, now_us());
	for (;;) {
		/* Bytes carry the time they were read, within the 1 ms the
		 * core sleeps between SysTick interrupts; at 19200 baud the
		 * 16-byte FIFO holds 9 ms of line, and t3.5 is 2 ms. */
		uint32_t t = now_us();
		while (!(UART_FR & FR_RXFE))
			fw_rx(&fw, (uint8_t)UART_DR, t);
		fw_poll(&fw, now_us());
		if (UART_FR & FR_RXFE)
			__asm volatile("wfi");
	}
}

/* ---- startup ---- */

extern uint32_t _sidata, _sdata, _edata, _sbss, _ebss, _estack;

static uint64_t stack[256] __attribute__((section(".stack"), used));

void hal_reset(void);
void hal_reset(void)
{
	uint32_t *src = &_sidata;

	for (uint32_t *dst = &_sdata; dst < &_edata;)
		*dst++ = *src++;
	for (uint32_t *dst = &_sbss; dst < &_ebss;)
		*dst++ = 0;
	main();
	for (;;)
		;
}

static void systick(void)
{
	ticks_ms++;
}

/* A fault or an unexpected interrupt: stop here. The outputs keep their
 * last state; the slot board's external watchdog (and the charger's own
 * enable timeout) take it from there. */
static void hang(void)
{
	for (;;)
		;
}

typedef void (*vector)(void);

/* The core's 16 exception vectors; no peripheral interrupt is enabled. */
__attribute__((section(".vectors"), used)) static const vector vectors[16] = {
	(vector)(uintptr_t)&_estack, hal_reset, hang, hang, hang, hang, hang, 0,
	0, 0, 0, hang, hang, 0, hang, systick,
};
