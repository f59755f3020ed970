/* Minimal assertion helpers for unit tests; each test binary prints
 * "N passed, N failed" and exits non-zero on any failure. */
#ifndef TABI_UNIT_H
#define TABI_UNIT_H
#include <stdio.h>
#include <string.h>

static int unit_passed, unit_failed;

#define CHECK(cond) do { \
	if (cond) unit_passed++; \
	else { unit_failed++; fprintf(stderr, "FAIL %s:%d: %s\n", __FILE__, __LINE__, #cond); } \
} while (0)
#define CHECK_EQ(a, b) do { \
	unsigned long long _a = (unsigned long long)(a), _b = (unsigned long long)(b); \
	if (_a == _b) unit_passed++; \
	else { unit_failed++; fprintf(stderr, "FAIL %s:%d: %s == %s (0x%llx != 0x%llx)\n", \
		__FILE__, __LINE__, #a, #b, _a, _b); } \
} while (0)
#define UNIT_MAIN_END() do { \
	printf("%s: %d passed, %d failed\n", __FILE__, unit_passed, unit_failed); \
	return unit_failed ? 1 : 0; \
} while (0)
#endif
