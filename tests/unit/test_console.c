/* Console escape filter: Ctrl-A x freezes, Ctrl-A Ctrl-A sends one Ctrl-A,
 * anything else after Ctrl-A passes both, state carries across calls. */
#include <stdlib.h>
#include "unit.h"
#include "console.h"

static size_t filt(const char *in, size_t n, uint8_t *out, enum console_action *a)
{
	memset(out, 0xEE, n + 2);
	size_t r = console_filter((const uint8_t *)in, n, out, a);
	CHECK(r <= n + 1);
	CHECK_EQ(out[n + 1], 0xEE);          /* never writes beyond n + 1 */
	return r;
}

int main(void)
{
	uint8_t out[64];
	enum console_action a = CONSOLE_FREEZE;

	/* Plain bytes pass unchanged. */
	CHECK_EQ(filt("hello\r\n", 7, out, &a), 7);
	CHECK(!memcmp(out, "hello\r\n", 7));
	CHECK_EQ(a, CONSOLE_NONE);
	CHECK_EQ(filt("", 0, out, &a), 0);
	CHECK_EQ(a, CONSOLE_NONE);
	/* Other control bytes (Ctrl-C, Ctrl-B, NUL, DEL) are not escapes. */
	CHECK_EQ(filt("\x03\x02\x00\x7f", 4, out, &a), 4);
	CHECK(!memcmp(out, "\x03\x02\x00\x7f", 4));
	CHECK_EQ(a, CONSOLE_NONE);

	/* Ctrl-A x: freeze, nothing passed. */
	CHECK_EQ(filt("\x01x", 2, out, &a), 0);
	CHECK_EQ(a, CONSOLE_FREEZE);
	CHECK_EQ(filt("\x01X", 2, out, &a), 0);
	CHECK_EQ(a, CONSOLE_FREEZE);
	/* The action resets on the next call. */
	CHECK_EQ(filt("a", 1, out, &a), 1);
	CHECK_EQ(a, CONSOLE_NONE);
	/* Bytes around the escape still pass. */
	CHECK_EQ(filt("ab\x01xcd", 6, out, &a), 4);
	CHECK(!memcmp(out, "abcd", 4));
	CHECK_EQ(a, CONSOLE_FREEZE);

	/* Ctrl-A Ctrl-A: one Ctrl-A. */
	CHECK_EQ(filt("\x01\x01", 2, out, &a), 1);
	CHECK_EQ(out[0], 0x01);
	CHECK_EQ(a, CONSOLE_NONE);
	/* Three Ctrl-As: one literal, one pending; then 'x' freezes. */
	CHECK_EQ(filt("\x01\x01\x01", 3, out, &a), 1);
	CHECK_EQ(a, CONSOLE_NONE);
	CHECK_EQ(filt("x", 1, out, &a), 0);
	CHECK_EQ(a, CONSOLE_FREEZE);
	/* Ctrl-A Ctrl-A x: a literal Ctrl-A then a plain x, no freeze. */
	CHECK_EQ(filt("\x01\x01x", 3, out, &a), 2);
	CHECK(!memcmp(out, "\x01x", 2));
	CHECK_EQ(a, CONSOLE_NONE);

	/* Ctrl-A then something else: both pass. */
	CHECK_EQ(filt("\x01q", 2, out, &a), 2);
	CHECK(!memcmp(out, "\x01q", 2));
	CHECK_EQ(a, CONSOLE_NONE);
	CHECK_EQ(filt("\x01\x1b[A", 4, out, &a), 4);
	CHECK(!memcmp(out, "\x01\x1b[A", 4));

	/* Split across calls: Ctrl-A at the end of one, x at the start of the next. */
	CHECK_EQ(filt("ls\x01", 3, out, &a), 2);
	CHECK(!memcmp(out, "ls", 2));
	CHECK_EQ(a, CONSOLE_NONE);
	CHECK_EQ(filt("x", 1, out, &a), 0);
	CHECK_EQ(a, CONSOLE_FREEZE);
	/* Split, then not an escape: the held Ctrl-A comes out with the byte,
	 * the one case that needs n + 1 bytes of room. */
	CHECK_EQ(filt("\x01", 1, out, &a), 0);
	CHECK_EQ(filt("z", 1, out, &a), 2);
	CHECK(!memcmp(out, "\x01z", 2));
	CHECK_EQ(a, CONSOLE_NONE);
	/* Split Ctrl-A Ctrl-A. */
	CHECK_EQ(filt("\x01", 1, out, &a), 0);
	CHECK_EQ(filt("\x01y", 2, out, &a), 2);
	CHECK(!memcmp(out, "\x01y", 2));
	/* An empty read in between keeps the pending escape. */
	CHECK_EQ(filt("\x01", 1, out, &a), 0);
	CHECK_EQ(filt("", 0, out, &a), 0);
	CHECK_EQ(filt("x", 1, out, &a), 0);
	CHECK_EQ(a, CONSOLE_FREEZE);

	/* Random input: output bounded by n + 1, freeze iff "\1x" seen
	 * (modelled independently). */
	srand(7);
	int pending = 0, ok = 1;
	for (int round = 0; round < 2000; round++) {
		size_t n = (size_t)(rand() % 16);
		char in[16];
		const char alpha[] = { 0x01, 'x', 'X', 'a', 0x03 };
		for (size_t i = 0; i < n; i++)
			in[i] = alpha[rand() % 5];
		uint8_t exp[32];
		size_t en = 0;
		int freeze = 0;
		for (size_t i = 0; i < n; i++) {
			uint8_t c = (uint8_t)in[i];
			if (pending) {
				pending = 0;
				if (c == 'x' || c == 'X') freeze = 1;
				else if (c == 1) exp[en++] = 1;
				else { exp[en++] = 1; exp[en++] = c; }
			} else if (c == 1) {
				pending = 1;
			} else {
				exp[en++] = c;
			}
		}
		size_t r = console_filter((const uint8_t *)in, n, out, &a);
		ok &= r == en && !memcmp(out, exp, en) && r <= n + 1 &&
		      (a == CONSOLE_FREEZE) == freeze;
	}
	CHECK(ok);
	UNIT_MAIN_END();
}
