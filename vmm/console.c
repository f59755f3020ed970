/* Terminal handling (console.h). */
#include <signal.h>
#include <stdlib.h>
#include <termios.h>
#include <unistd.h>
#include "console.h"

static struct termios saved;
static volatile sig_atomic_t raw_on;
static bool escape_pending;

void console_restore(void)
{
	if (raw_on) {
		tcsetattr(STDIN_FILENO, TCSANOW, &saved);
		raw_on = 0;
	}
}

static void restore_and_die(int sig)
{
	console_restore();
	signal(sig, SIG_DFL);
	raise(sig);
}

void console_raw(void)
{
	if (!isatty(STDIN_FILENO) || tcgetattr(STDIN_FILENO, &saved) < 0)
		return;
	struct termios t = saved;
	cfmakeraw(&t);
	t.c_oflag |= OPOST | ONLCR;  /* tabi's own messages still start a line */
	if (tcsetattr(STDIN_FILENO, TCSANOW, &t) < 0)
		return;
	raw_on = 1;
	atexit(console_restore);
	/* Crashes must not leave the user's terminal raw. */
	signal(SIGSEGV, restore_and_die);
	signal(SIGBUS, restore_and_die);
	signal(SIGABRT, restore_and_die);
}

size_t console_filter(const uint8_t *in, size_t n, uint8_t *buf,
		      enum console_action *action)
{
	size_t out = 0;
	*action = CONSOLE_NONE;
	for (size_t i = 0; i < n; i++) {
		uint8_t c = in[i];
		if (escape_pending) {
			escape_pending = false;
			if (c == 'x' || c == 'X') {
				*action = CONSOLE_FREEZE;
				continue;
			}
			if (c == CONSOLE_ESCAPE) {
				buf[out++] = c;
				continue;
			}
			buf[out++] = CONSOLE_ESCAPE;  /* not an escape: pass both */
			buf[out++] = c;
			continue;
		}
		if (c == CONSOLE_ESCAPE) {
			escape_pending = true;
			continue;
		}
		buf[out++] = c;
	}
	return out;
}
