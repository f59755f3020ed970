/* CMOS RTC (rtc.h). Time registers are computed from the host clock on
 * every read; writes to them (hwclock --systohc) become an offset. */
#include <string.h>
#include <time.h>
#include "rtc.h"

enum { SEC = 0, MIN = 2, HOUR = 4, WDAY = 6, MDAY = 7, MON = 8, YEAR = 9,
       REG_A = 0x0A, REG_B = 0x0B, REG_C = 0x0C, REG_D = 0x0D, CENTURY = 0x32 };
#define B_24H    0x02
#define B_BINARY 0x04
#define B_SET    0x80

void rtc_init(struct rtc *r)
{
	memset(r, 0, sizeof(*r));
	pthread_mutex_init(&r->lock, NULL);
	r->cmos[REG_A] = 0x26;          /* 32.768 kHz base, 1024 Hz rate */
	r->cmos[REG_B] = B_24H;         /* BCD, 24-hour */
	r->cmos[REG_D] = 0x80;          /* battery good */
}

static uint8_t enc(const struct rtc *r, int v)
{
	if (r->cmos[REG_B] & B_BINARY)
		return (uint8_t)v;
	return (uint8_t)(((v / 10) << 4) | (v % 10));
}

static int dec(const struct rtc *r, uint8_t v)
{
	if (r->cmos[REG_B] & B_BINARY)
		return v;
	return (v >> 4) * 10 + (v & 0xf);
}

static void now_tm(const struct rtc *r, struct tm *tm)
{
	time_t t = time(NULL) + r->offset_s;
	gmtime_r(&t, tm);
}

static uint8_t time_reg(const struct rtc *r, unsigned idx)
{
	struct tm tm;
	now_tm(r, &tm);
	switch (idx) {
	case SEC: return enc(r, tm.tm_sec);
	case MIN: return enc(r, tm.tm_min);
	case HOUR:
		if (r->cmos[REG_B] & B_24H)
			return enc(r, tm.tm_hour);
		return (uint8_t)(enc(r, tm.tm_hour % 12 ? tm.tm_hour % 12 : 12) |
				 (tm.tm_hour >= 12 ? 0x80 : 0));
	case WDAY: return enc(r, tm.tm_wday + 1);
	case MDAY: return enc(r, tm.tm_mday);
	case MON: return enc(r, tm.tm_mon + 1);
	case YEAR: return enc(r, tm.tm_year % 100);
	default: return enc(r, (tm.tm_year + 1900) / 100);  /* CENTURY */
	}
}

static bool is_time_reg(unsigned idx)
{
	return idx == SEC || idx == MIN || idx == HOUR || idx == WDAY ||
	       idx == MDAY || idx == MON || idx == YEAR || idx == CENTURY;
}

/* Applies a guest write to a time register by moving the offset. */
static void set_time_reg(struct rtc *r, unsigned idx, uint8_t v)
{
	struct tm tm;
	now_tm(r, &tm);
	int x = dec(r, v);
	switch (idx) {
	case SEC: tm.tm_sec = x; break;
	case MIN: tm.tm_min = x; break;
	case HOUR:
		if (!(r->cmos[REG_B] & B_24H)) {
			bool pm = v & 0x80;
			x = dec(r, v & 0x7f) % 12 + (pm ? 12 : 0);
		}
		tm.tm_hour = x;
		break;
	case MDAY: tm.tm_mday = x; break;
	case MON: tm.tm_mon = x - 1; break;
	case YEAR: tm.tm_year = (tm.tm_year / 100) * 100 + x; break;
	case CENTURY: tm.tm_year = (x - 19) * 100 + tm.tm_year % 100; break;
	default: return;
	}
	time_t want = timegm(&tm);
	if (want != (time_t)-1)
		r->offset_s = (int64_t)want - (int64_t)time(NULL);
}

void rtc_io(void *opaque, uint64_t off, uint8_t *data, uint32_t len, bool is_write)
{
	struct rtc *r = opaque;
	pthread_mutex_lock(&r->lock);
	for (uint32_t i = 0; i < len; i++) {
		unsigned port = (unsigned)(off + i) & 1;
		if (port == 0) {
			if (is_write)
				r->index = data[i] & 0x7f;  /* bit 7: NMI mask */
			else
				data[i] = 0xff;
			continue;
		}
		unsigned idx = r->index;
		if (!is_write) {
			if (is_time_reg(idx))
				data[i] = time_reg(r, idx);
			else if (idx == REG_A)
				data[i] = r->cmos[REG_A] & 0x7f;  /* never mid-update */
			else if (idx == REG_C) {
				data[i] = r->cmos[REG_C];
				r->cmos[REG_C] = 0;
			} else
				data[i] = r->cmos[idx];
		} else if (is_time_reg(idx)) {
			set_time_reg(r, idx, data[i]);
		} else if (idx == REG_C || idx == REG_D) {
			/* read-only */
		} else {
			r->cmos[idx] = data[i];
		}
	}
	pthread_mutex_unlock(&r->lock);
}

void rtc_save(struct rtc *r, struct state_buf *b)
{
	pthread_mutex_lock(&r->lock);
	sb_put_u8(b, r->index);
	sb_put_bytes(b, r->cmos, sizeof(r->cmos));
	sb_put_u64(b, (uint64_t)r->offset_s);
	pthread_mutex_unlock(&r->lock);
}

int rtc_restore(struct rtc *r, struct state_buf *b)
{
	pthread_mutex_lock(&r->lock);
	r->index = sb_get_u8(b) & 0x7f;
	sb_get_bytes(b, r->cmos, sizeof(r->cmos));
	r->offset_s = (int64_t)sb_get_u64(b);
	pthread_mutex_unlock(&r->lock);
	return b->error ? -1 : 0;
}
