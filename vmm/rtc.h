/* MC146818 CMOS RTC at ports 0x70/0x71: reports the host's real time (plus
 * whatever offset the guest set), so the guest's date is right at boot and
 * after every journey. */
#ifndef TABI_RTC_H
#define TABI_RTC_H
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include "state_buf.h"

struct rtc {
	pthread_mutex_t lock;
	uint8_t index;
	uint8_t cmos[128];
	int64_t offset_s;   /* guest time minus host real time */
};

void rtc_init(struct rtc *r);
void rtc_io(void *opaque, uint64_t off, uint8_t *data, uint32_t len, bool is_write);
void rtc_save(struct rtc *r, struct state_buf *b);
int rtc_restore(struct rtc *r, struct state_buf *b);
#endif
