/* Reset and power-off ports (platform_ports.h). */
#include <string.h>
#include "acpi.h"
#include "platform_ports.h"

#define I8042_CMD_RESET 0xFE

void i8042_io(void *opaque, uint64_t off, uint8_t *data, uint32_t len, bool is_write)
{
	struct platform_ports *p = opaque;
	if (!is_write) {
		/* Status: output empty, input empty, so reset writes proceed. */
		memset(data, 0, len);
		return;
	}
	if (off == 4 && data[0] == I8042_CMD_RESET)
		p->request(p->vm, VM_REQ_REBOOT);
}

void acpi_pm_io(void *opaque, uint64_t off, uint8_t *data, uint32_t len, bool is_write)
{
	struct platform_ports *p = opaque;
	uint64_t port = ACPI_SLEEP_CTL_PORT + off;
	if (!is_write) {
		memset(data, 0, len);
		if (port == ACPI_SLEEP_STS_PORT)
			data[0] = p->sleep_status;
		return;
	}
	if (port == ACPI_SLEEP_CTL_PORT) {
		/* SLP_EN (bit 5) with SLP_TYP (bits 4:2) naming \_S5. */
		if ((data[0] & 0x20) && ((data[0] >> 2) & 7) == ACPI_S5_SLP_TYP)
			p->request(p->vm, VM_REQ_POWEROFF);
	} else if (port == ACPI_SLEEP_STS_PORT) {
		p->sleep_status &= (uint8_t)~data[0];  /* write-one-to-clear */
	} else if (port == ACPI_RESET_PORT && data[0] == ACPI_RESET_VALUE) {
		p->request(p->vm, VM_REQ_REBOOT);
	}
}
