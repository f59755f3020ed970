/* The terminal tabi runs on: raw mode while the guest owns it (restored on
 * every exit path), and the escape key.
 * Escape: Ctrl-A then x freezes the session; Ctrl-A Ctrl-A sends Ctrl-A. */
#ifndef TABI_CONSOLE_H
#define TABI_CONSOLE_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CONSOLE_ESCAPE 0x01 /* Ctrl-A */

enum console_action { CONSOLE_NONE, CONSOLE_FREEZE };

/* Puts stdin in raw mode when it is a terminal. */
void console_raw(void);
/* Restores the terminal (idempotent, async-signal-safe). */
void console_restore(void);
/* Filters typed bytes for the escape sequence into out (room for n + 1
 * bytes); returns the count to pass to the guest and sets *action. */
size_t console_filter(const uint8_t *in, size_t n, uint8_t *out,
		      enum console_action *action);
#endif
