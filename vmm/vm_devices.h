/* Creates the guest's devices and puts them on the buses; saves and
 * restores them in one fixed order for snapshots. */
#ifndef TABI_VM_DEVICES_H
#define TABI_VM_DEVICES_H
#include "state_buf.h"

struct vm;
int vm_devices_create(struct vm *vm, char err[256]);
void vm_devices_destroy(struct vm *vm);
/* Drains and flushes device I/O (vCPUs stopped). -1 with err on failure. */
int vm_devices_quiesce(struct vm *vm, char err[256]);
void vm_devices_save(struct vm *vm, struct state_buf *b);
int vm_devices_restore(struct vm *vm, struct state_buf *b, char err[256]);
#endif
