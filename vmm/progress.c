/* Progress display (progress.h). On a terminal the line redraws in place;
 * into a log it prints at most one line a second. Always on stderr, so the
 * guest's console output on stdout is not interleaved mid-line. */
#include <stdio.h>
#include <time.h>
#include <unistd.h>
#include "progress.h"

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

void progress_begin(struct progress *p, const char *what)
{
	p->what = what;
	p->start_ns = p->last_ns = now_ns();
	p->shown = 0;
}

static void draw(struct progress *p, uint64_t done, uint64_t total, const char *end)
{
	double secs = (double)(now_ns() - p->start_ns) / 1e9;
	double rate = secs > 0 ? (double)done / secs : 0;
	double left = rate > 0 ? (double)(total - done) / rate : 0;
	int pct = total ? (int)(done * 100 / total) : 100;
	char bar[21];
	for (int i = 0; i < 20; i++)
		bar[i] = i < pct / 5 ? '#' : '.';
	bar[20] = 0;
	fprintf(stderr, "%s[%s] %s %3d%%  %llu/%llu MiB  %.0f MiB/s  %.0f s left%s",
		isatty(STDERR_FILENO) ? "\r" : "", bar, p->what, pct,
		(unsigned long long)(done >> 20), (unsigned long long)(total >> 20),
		rate / (1 << 20), left, end);
	fflush(stderr);
}

void progress_update(void *ctx, uint64_t done, uint64_t total)
{
	struct progress *p = ctx;
	uint64_t t = now_ns();
	uint64_t gap = isatty(STDERR_FILENO) ? 100000000ULL : 1000000000ULL;
	if (t - p->last_ns < gap && done < total)
		return;
	p->last_ns = t;
	p->shown = 1;
	draw(p, done, total, isatty(STDERR_FILENO) ? "" : "\n");
}

void progress_end(struct progress *p, uint64_t total, uint64_t stored)
{
	double secs = (double)(now_ns() - p->start_ns) / 1e9;
	if (p->shown && isatty(STDERR_FILENO))
		fprintf(stderr, "\n");
	fprintf(stderr, "tabi: %s done: %llu MiB of guest memory in %.1f s",
		p->what, (unsigned long long)(total >> 20), secs);
	if (stored)
		fprintf(stderr, ", %llu MiB on disk", (unsigned long long)(stored >> 20));
	fprintf(stderr, "\n");
}
