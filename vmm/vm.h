/* The virtual machine: KVM handles, guest RAM, buses, devices and vCPU
 * threads, and what made it stop. */
#ifndef TABI_VM_H
#define TABI_VM_H
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <linux/kvm.h>
#include "cpu_model.h"
#include "dirty_log.h"
#include "guest_memory.h"
#include "io_bus.h"
#include "irq.h"
#include "pci.h"
#include "platform_ports.h"
#include "rtc.h"
#include "serial.h"

#define VM_MAX_CPUS  64
#define VM_MAX_DISKS 8
#define VM_MIN_MEM   (64ULL << 20)

struct virtio_blk;
struct virtio_rng;

struct disk_config {
	char path[4096];
	bool read_only;
};

/* What the user asked for; stored in the session so resume can rebuild. */
struct vm_config {
	uint64_t mem_bytes;
	int cpus;
	int ndisks;
	struct disk_config disk[VM_MAX_DISKS];
	char cpu_model[32];
	unsigned autosave_s;   /* periodic save interval in seconds, 0 = off */
	char session_dir[4096]; /* not stored: where the session lives now */
	uint32_t tsc_khz;   /* resume: the session's TSC rate; 0 = host's */
	bool track_dirty;   /* not stored: RAM slots log dirty pages (from creation
	                     * on a resume, so KVM's writes while state is
	                     * restored count too) */
};

enum vm_stop {
	VM_RUNNING = 0,
	VM_STOP_POWEROFF,   /* guest powered off */
	VM_STOP_REBOOT,     /* guest rebooted (or triple-faulted) */
	VM_STOP_FREEZE,     /* freeze requested (SIGTERM, escape key) */
	VM_STOP_ERROR,      /* KVM reported an error running the guest */
	VM_STOP_AUTOSAVE,   /* pause for a periodic generation, then go on */
	VM_STOP_CRASH,      /* triple fault: the guest crashed */
};

struct vcpu {
	int fd;
	int index;
	struct kvm_run *run;
	pthread_t thread;
	struct vm *vm;
	bool started, parked;
};

struct vm {
	int kvm_fd, vm_fd;
	struct vm_config cfg;
	struct cpu_model cpu;
	struct guest_memory mem;
	size_t run_size;
	struct vcpu vcpu[VM_MAX_CPUS];
	struct io_bus pio, mmio;
	struct pci_bus pci;
	struct irq_sink irq;
	struct serial uart;
	struct rtc rtc;
	struct platform_ports ports;
	struct virtio_blk *disk[VM_MAX_DISKS];
	struct disk_overlay *ovl[VM_MAX_DISKS]; /* writable disks' pending writes */
	uint64_t parent;         /* generation the running state descends from */
	struct dirty_log dirty;  /* memory changed since a committed generation */
	struct virtio_rng *rng;
	/* Stopping: the first reason wins; vCPU threads report in via wake_fd. */
	_Atomic int stop;
	int wake_fd;             /* eventfd the main loop polls */
	char error[256];
	pthread_mutex_t park_lock;
	pthread_cond_t park_cond;
	int parked_count;
	bool tsc_scaled_note; /* TSC rate differs and could not be scaled */
};

/* Opens /dev/kvm and creates the VM, RAM, irqchip, PIT, devices and vCPUs
 * (not yet running). cpuid_model NULL = build from cfg->cpu_model.
 * Returns -1 with a one-line error in err. */
int vm_create(struct vm *vm, const struct vm_config *cfg,
	      const struct cpu_model *cpuid_model, char err[256]);
/* (Re)maps guest RAM into KVM's memory slots (low part at 0, the rest
 * above 4 GiB) with the given slot flags. -1 with errno. */
int vm_map_ram(struct vm *vm, uint32_t flags);
/* Sets up vCPU 0 for the 64-bit Linux entry. */
int vm_setup_boot_cpu(struct vm *vm, uint64_t entry, uint64_t boot_params,
		      char err[256]);
/* Starts one thread per vCPU. */
int vm_start(struct vm *vm, char err[256]);
/* Asks every vCPU to leave KVM_RUN and waits until all have parked. */
void vm_request_stop(struct vm *vm, enum vm_stop why);
void vm_wait_parked(struct vm *vm);
void vm_destroy(struct vm *vm);
/* Host's supported CPUID (cached). */
int vm_host_cpuid(int kvm_fd, struct kvm_cpuid_entry2 **out, char err[256]);
/* Opens /dev/kvm with the user-facing errors for missing/forbidden/old. */
int vm_open_kvm(char err[256]);
#endif
