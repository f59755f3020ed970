/* CMOS RTC: time registers in BCD/binary/12-hour match gmtime, register A
 * never reports an update in progress, D's valid bit, writes become an
 * offset, CMOS RAM, save/restore. */
#include <stdlib.h>
#include <time.h>
#include "unit.h"
#include "rtc.h"

enum { SEC = 0, MIN = 2, HOUR = 4, WDAY = 6, MDAY = 7, MON = 8, YEAR = 9,
       REG_A = 0x0A, REG_B = 0x0B, REG_C = 0x0C, REG_D = 0x0D, CENTURY = 0x32 };

static uint8_t rd(struct rtc *r, uint8_t idx)
{
	uint8_t v = idx;
	rtc_io(r, 0, &v, 1, true);
	v = 0x5A;
	rtc_io(r, 1, &v, 1, false);
	return v;
}
static void wr(struct rtc *r, uint8_t idx, uint8_t val)
{
	rtc_io(r, 0, &idx, 1, true);
	rtc_io(r, 1, &val, 1, true);
}
static int bcd(int v) { return (v / 10) << 4 | v % 10; }

struct regs { uint8_t sec, min, hour, wday, mday, mon, year, cent; };

static void read_regs(struct rtc *r, struct regs *g)
{
	g->sec = rd(r, SEC); g->min = rd(r, MIN); g->hour = rd(r, HOUR);
	g->wday = rd(r, WDAY); g->mday = rd(r, MDAY); g->mon = rd(r, MON);
	g->year = rd(r, YEAR); g->cent = rd(r, CENTURY);
}

/* Reads the clock within one second of host time (retries across a tick);
 * *tm gets the expected broken-down time. */
static void sample(struct rtc *r, int64_t offset, struct regs *g, struct tm *tm)
{
	for (int tries = 0; tries < 5; tries++) {
		time_t t0 = time(NULL);
		read_regs(r, g);
		time_t t1 = time(NULL);
		if (t0 == t1) {
			time_t t = t0 + offset;
			gmtime_r(&t, tm);
			return;
		}
	}
	CHECK(!"clock kept ticking during every sample");
}

static void check_time(struct rtc *r, int64_t offset, int binary, int h12)
{
	struct regs g;
	struct tm tm;
	sample(r, offset, &g, &tm);
	int (*e)(int) = binary ? NULL : bcd;
#define ENC(v) (e ? e(v) : (v))
	CHECK_EQ(g.sec, ENC(tm.tm_sec));
	CHECK_EQ(g.min, ENC(tm.tm_min));
	if (h12) {
		int h = tm.tm_hour % 12 ? tm.tm_hour % 12 : 12;
		CHECK_EQ(g.hour, ENC(h) | (tm.tm_hour >= 12 ? 0x80 : 0));
	} else {
		CHECK_EQ(g.hour, ENC(tm.tm_hour));
	}
	CHECK_EQ(g.wday, ENC(tm.tm_wday + 1));
	CHECK_EQ(g.mday, ENC(tm.tm_mday));
	CHECK_EQ(g.mon, ENC(tm.tm_mon + 1));
	CHECK_EQ(g.year, ENC(tm.tm_year % 100));
	CHECK_EQ(g.cent, ENC((tm.tm_year + 1900) / 100));
#undef ENC
}

int main(void)
{
	struct rtc r;
	rtc_init(&r);
	/* Defaults: BCD, 24-hour; A has no UIP; D valid. */
	CHECK_EQ(rd(&r, REG_B), 0x02);
	CHECK_EQ(rd(&r, REG_A), 0x26);
	CHECK_EQ(rd(&r, REG_D), 0x80);
	CHECK_EQ(rd(&r, REG_C), 0);
	check_time(&r, 0, 0, 0);
	/* BCD digits are valid digits. */
	struct regs g;
	read_regs(&r, &g);
	CHECK((g.sec & 0xf) < 10 && (g.sec >> 4) < 6);
	CHECK((g.mday & 0xf) < 10 && g.mday >= 1);

	/* Register A: bit 7 (UIP) never set, even if written, across many reads. */
	wr(&r, REG_A, 0xA6);
	int uip = 0;
	for (int i = 0; i < 20000; i++)
		uip |= rd(&r, REG_A) & 0x80;
	CHECK_EQ(uip, 0);
	CHECK_EQ(rd(&r, REG_A), 0x26);
	/* D is read-only; C reads and clears. */
	wr(&r, REG_D, 0x00);
	CHECK_EQ(rd(&r, REG_D), 0x80);
	r.cmos[REG_C] = 0xC0;
	CHECK_EQ(rd(&r, REG_C), 0xC0);
	CHECK_EQ(rd(&r, REG_C), 0);
	wr(&r, REG_C, 0xFF);
	CHECK_EQ(rd(&r, REG_C), 0);

	/* The index port reads as 0xff; bit 7 of the index (NMI mask) is
	 * dropped; two-byte accesses hit index then data. */
	uint8_t v;
	rtc_io(&r, 0, &v, 1, false);
	CHECK_EQ(v, 0xff);
	wr(&r, 0x80 | 0x40, 0x99);
	CHECK_EQ(rd(&r, 0x40), 0x99);
	CHECK_EQ(r.index, 0x40);
	uint8_t two[2] = { 0x41, 0x77 };
	rtc_io(&r, 0, two, 2, true);
	CHECK_EQ(rd(&r, 0x41), 0x77);
	/* CMOS RAM across the whole bank keeps what is written. */
	int ok = 1;
	for (int i = 0x0E; i < 0x80; i++)
		if (i != CENTURY)
			wr(&r, (uint8_t)i, (uint8_t)(i * 3));
	for (int i = 0x0E; i < 0x80; i++)
		if (i != CENTURY)
			ok &= rd(&r, (uint8_t)i) == (uint8_t)(i * 3);
	CHECK(ok);

	/* Binary mode. */
	wr(&r, REG_B, 0x06);
	CHECK_EQ(rd(&r, REG_B), 0x06);
	check_time(&r, 0, 1, 0);
	/* 12-hour BCD and 12-hour binary. */
	wr(&r, REG_B, 0x00);
	check_time(&r, 0, 0, 1);
	wr(&r, REG_B, 0x04);
	check_time(&r, 0, 1, 1);

	/* Writing the year moves the guest's clock (BCD, 24h). */
	wr(&r, REG_B, 0x02);
	time_t now = time(NULL);
	struct tm tm;
	gmtime_r(&now, &tm);
	int target = tm.tm_year % 100 == 37 ? 38 : 37;   /* 2037 or 2038 */
	wr(&r, YEAR, (uint8_t)bcd(target));
	CHECK_EQ(rd(&r, YEAR), bcd(target));
	CHECK_EQ(rd(&r, CENTURY), 0x20);
	int64_t years = target + 100 - tm.tm_year;
	CHECK(r.offset_s > (years - 1) * 365 * 86400LL);
	CHECK(r.offset_s < (years + 1) * 366 * 86400LL);
	check_time(&r, r.offset_s, 0, 0);
	/* Century: 19xx. */
	wr(&r, CENTURY, 0x19);
	CHECK_EQ(rd(&r, CENTURY), 0x19);
	CHECK_EQ(rd(&r, YEAR), bcd(target));
	CHECK(r.offset_s < 0);
	/* Back to now: write every field from the host's time. */
	now = time(NULL);
	gmtime_r(&now, &tm);
	wr(&r, CENTURY, (uint8_t)bcd((tm.tm_year + 1900) / 100));
	wr(&r, YEAR, (uint8_t)bcd(tm.tm_year % 100));
	wr(&r, MON, (uint8_t)bcd(tm.tm_mon + 1));
	wr(&r, MDAY, (uint8_t)bcd(tm.tm_mday));
	wr(&r, HOUR, (uint8_t)bcd(tm.tm_hour));
	wr(&r, MIN, (uint8_t)bcd(tm.tm_min));
	wr(&r, SEC, (uint8_t)bcd(tm.tm_sec));
	CHECK(r.offset_s >= -2 && r.offset_s <= 2);
	/* Hour in binary 12-hour mode: 3 PM. */
	wr(&r, REG_B, 0x04);
	wr(&r, HOUR, 0x80 | 3);
	CHECK_EQ(rd(&r, HOUR), 0x80 | 3);
	wr(&r, REG_B, 0x06);
	CHECK_EQ(rd(&r, HOUR), 15);
	/* 12 AM is hour 0. */
	wr(&r, REG_B, 0x04);
	wr(&r, HOUR, 12);
	wr(&r, REG_B, 0x06);
	CHECK_EQ(rd(&r, HOUR), 0);
	/* Minutes in binary. */
	wr(&r, MIN, 42);
	CHECK_EQ(rd(&r, MIN), 42);
	/* The weekday register is derived, writes do not move the clock. */
	int64_t before = r.offset_s;
	wr(&r, WDAY, 1);
	CHECK_EQ(r.offset_s, before);

	/* Save/restore: offset, mode, CMOS RAM, index. */
	wr(&r, YEAR, 99);
	wr(&r, 0x50, 0xAB);
	rd(&r, 0x33);
	struct state_buf b, rb;
	sb_init(&b);
	rtc_save(&r, &b);
	CHECK(!b.error);
	struct rtc s;
	rtc_init(&s);
	sb_reader(&rb, b.data, b.len);
	CHECK_EQ(rtc_restore(&s, &rb), 0);
	CHECK(sb_done(&rb));
	CHECK_EQ(s.offset_s, r.offset_s);
	CHECK_EQ(s.index, 0x33);
	CHECK(!memcmp(s.cmos, r.cmos, sizeof(s.cmos)));
	CHECK_EQ(rd(&s, REG_B), 0x06);
	CHECK_EQ(rd(&s, YEAR), 99);
	CHECK_EQ(rd(&s, 0x50), 0xAB);
	check_time(&s, s.offset_s, 1, 0);
	/* Truncations are refused. */
	int refused = 0;
	for (size_t len = 0; len < b.len; len++) {
		struct rtc u;
		rtc_init(&u);
		sb_reader(&rb, b.data, len);
		refused += rtc_restore(&u, &rb) == -1;
	}
	CHECK_EQ(refused, b.len);
	/* An index with bit 7 set is masked (never indexes past the bank). */
	b.data[0] = 0xFF;
	sb_reader(&rb, b.data, b.len);
	CHECK_EQ(rtc_restore(&s, &rb), 0);
	CHECK(s.index < 128);
	sb_free(&b);
	UNIT_MAIN_END();
}
