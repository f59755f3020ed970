/* Small fixed-function ports that end the VM: the i8042 reset line (0x64)
 * and the ACPI sleep-control/reset registers the FADT points at. */
#ifndef TABI_PLATFORM_PORTS_H
#define TABI_PLATFORM_PORTS_H
#include <stdbool.h>
#include <stdint.h>

enum vm_request { VM_REQ_NONE = 0, VM_REQ_POWEROFF, VM_REQ_REBOOT };

/* Called with the request the guest made; opaque is the VM. */
typedef void (*vm_request_fn)(void *vm, enum vm_request req);

struct platform_ports {
	vm_request_fn request;
	void *vm;
	uint8_t sleep_status;
};

/* Port 0x60..0x64 (offset 4 = command/status). */
void i8042_io(void *opaque, uint64_t off, uint8_t *data, uint32_t len, bool is_write);
/* Ports 0x600..0x602 (ACPI_SLEEP_CTL_PORT, _STS, ACPI_RESET_PORT). */
void acpi_pm_io(void *opaque, uint64_t off, uint8_t *data, uint32_t len, bool is_write);
#endif
