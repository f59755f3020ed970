/* VM creation and vCPU threads (vm.h). */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/sysinfo.h>
#include <unistd.h>
#include "acpi.h"
#include "boot_linux.h"
#include "vm.h"
#include "vm_devices.h"

#define KVM_TSS_ADDR      0xfffbd000ULL
#define KVM_IDENTITY_ADDR 0xfffbc000ULL

int vm_open_kvm(char err[256])
{
	int fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (fd < 0) {
		if (errno == ENOENT || errno == ENXIO || errno == ENODEV)
			snprintf(err, 256, "no /dev/kvm: hardware virtualization is off or "
				 "unsupported — enable VT-x/AMD-V (SVM) in the PC's firmware "
				 "setup and load kvm_intel or kvm_amd");
		else if (errno == EACCES || errno == EPERM)
			snprintf(err, 256, "no permission to open /dev/kvm — run tabi as "
				 "root or add the user to the kvm group");
		else
			snprintf(err, 256, "cannot open /dev/kvm: %s — check that KVM "
				 "works on this PC (VT-x/AMD-V enabled in firmware)",
				 strerror(errno));
		return -1;
	}
	if (ioctl(fd, KVM_GET_API_VERSION, 0) != KVM_API_VERSION) {
		snprintf(err, 256, "/dev/kvm speaks an unknown API version — use a "
			 "Linux kernel newer than 4.14 on the host");
		close(fd);
		return -1;
	}
	static const struct { int cap; const char *name; } need[] = {
		{ KVM_CAP_IRQCHIP, "in-kernel irqchip" },
		{ KVM_CAP_USER_MEMORY, "user memory" },
		{ KVM_CAP_SIGNAL_MSI, "MSI injection" },
		{ KVM_CAP_IMMEDIATE_EXIT, "immediate exit" },
		{ KVM_CAP_PIT2, "in-kernel PIT" },
		{ KVM_CAP_EXT_CPUID, "CPUID2" },
	};
	for (size_t i = 0; i < sizeof(need) / sizeof(need[0]); i++)
		if (ioctl(fd, KVM_CHECK_EXTENSION, need[i].cap) <= 0) {
			snprintf(err, 256, "this host's KVM lacks %s — use a newer host "
				 "kernel", need[i].name);
			close(fd);
			return -1;
		}
	return fd;
}

int vm_host_cpuid(int kvm_fd, struct kvm_cpuid_entry2 **out, char err[256])
{
	int n = 128;
	for (;;) {
		struct kvm_cpuid2 *c = calloc(1, sizeof(*c) + (size_t)n * sizeof(c->entries[0]));
		if (!c) {
			snprintf(err, 256, "out of memory");
			return -1;
		}
		c->nent = (uint32_t)n;
		if (ioctl(kvm_fd, KVM_GET_SUPPORTED_CPUID, c) == 0) {
			int got = (int)c->nent;
			/* KVM emulates these on every host but reports them
			 * outside the supported CPUID. */
			bool deadline = ioctl(kvm_fd, KVM_CHECK_EXTENSION,
					      KVM_CAP_TSC_DEADLINE_TIMER) > 0;
			for (int i = 0; i < got; i++)
				if (c->entries[i].function == 1)
					c->entries[i].ecx |= (1u << 31) | (deadline ? 1u << 24 : 0);
			*out = malloc((size_t)got * sizeof(**out));
			if (*out)
				memcpy(*out, c->entries, (size_t)got * sizeof(**out));
			free(c);
			return *out ? got : -1;
		}
		free(c);
		if (errno != E2BIG || n > 4096) {
			snprintf(err, 256, "KVM_GET_SUPPORTED_CPUID failed: %s", strerror(errno));
			return -1;
		}
		n *= 2;
	}
}

static void kvm_msi(void *ctx, uint64_t addr, uint32_t data)
{
	struct vm *vm = ctx;
	struct kvm_msi msi = { .address_lo = (uint32_t)addr,
			       .address_hi = (uint32_t)(addr >> 32), .data = data };
	ioctl(vm->vm_fd, KVM_SIGNAL_MSI, &msi);
}

static void kvm_line(void *ctx, uint32_t gsi, int level)
{
	struct vm *vm = ctx;
	struct kvm_irq_level l = { .irq = gsi, .level = (uint32_t)level };
	ioctl(vm->vm_fd, KVM_IRQ_LINE, &l);
}

static void on_request(void *opaque, enum vm_request req)
{
	vm_request_stop(opaque, req == VM_REQ_POWEROFF ? VM_STOP_POWEROFF : VM_STOP_REBOOT);
}

int vm_map_ram(struct vm *vm, uint32_t flags)
{
	for (int slot = 0; slot < (vm->mem.high_size ? 2 : 1); slot++) {
		struct kvm_userspace_memory_region r = {
			.slot = (uint32_t)slot, .flags = flags,
			.guest_phys_addr = slot ? GM_HIGH_START : 0,
			.memory_size = slot ? vm->mem.high_size : vm->mem.low_size,
			.userspace_addr = (uint64_t)(uintptr_t)vm->mem.host +
					  (slot ? vm->mem.low_size : 0),
		};
		if (ioctl(vm->vm_fd, KVM_SET_USER_MEMORY_REGION, &r) < 0)
			return -1;
	}
	return 0;
}

static int setup_memory(struct vm *vm, char err[256])
{
	uint64_t size = vm->cfg.mem_bytes;
	struct sysinfo si;
	if (sysinfo(&si) == 0) {
		uint64_t total = (uint64_t)si.totalram * si.mem_unit;
		if (size > total) {
			snprintf(err, 256, "--mem %llu MiB is more than this PC has (%llu MiB) "
				 "— choose a smaller --mem",
				 (unsigned long long)(size >> 20),
				 (unsigned long long)(total >> 20));
			return -1;
		}
	}
	void *host = mmap(NULL, size, PROT_READ | PROT_WRITE,
			  MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (host == MAP_FAILED) {
		snprintf(err, 256, "cannot reserve %llu MiB of guest memory: %s — "
			 "choose a smaller --mem", (unsigned long long)(size >> 20),
			 strerror(errno));
		return -1;
	}
	/* No MADV_HUGEPAGE: with the usual defrag=madvise policy it makes page
	 * faults compact memory synchronously, stalling a host that is short
	 * on free huge pages for long stretches; THP still applies where the
	 * host's policy is "always". */
	gm_layout(&vm->mem, host, size);
	if (vm_map_ram(vm, vm->cfg.track_dirty ? KVM_MEM_LOG_DIRTY_PAGES : 0) == 0)
		return 0;
	snprintf(err, 256, "KVM refused %llu MiB of guest memory: %s — choose a "
		 "smaller --mem", (unsigned long long)(size >> 20), strerror(errno));
	return -1;
}

static int create_vcpu(struct vm *vm, int i, char err[256])
{
	struct vcpu *v = &vm->vcpu[i];
	v->vm = vm;
	v->index = i;
	v->fd = ioctl(vm->vm_fd, KVM_CREATE_VCPU, i);
	if (v->fd < 0) {
		snprintf(err, 256, "KVM could not create vCPU %d: %s — use fewer --cpus", i,
			 strerror(errno));
		return -1;
	}
	v->run = mmap(NULL, vm->run_size, PROT_READ | PROT_WRITE, MAP_SHARED, v->fd, 0);
	if (v->run == MAP_FAILED) {
		snprintf(err, 256, "cannot map vCPU %d state: %s", i, strerror(errno));
		return -1;
	}
	/* A session moving to a PC with another TSC rate keeps its own where
	 * KVM can scale; elsewhere the guest keeps time by kvmclock. */
	if (vm->cfg.tsc_khz) {
		int host = ioctl(v->fd, KVM_GET_TSC_KHZ, 0);
		if (host > 0 && (uint32_t)host != vm->cfg.tsc_khz &&
		    ioctl(v->fd, KVM_SET_TSC_KHZ, vm->cfg.tsc_khz) < 0)
			vm->tsc_scaled_note = true;
	}
	struct kvm_cpuid2 *c = calloc(1, sizeof(*c) + CPU_MAX_ENTRIES * sizeof(c->entries[0]));
	if (!c)
		return -1;
	cpu_model_for_vcpu(&vm->cpu, i, vm->cfg.cpus, c);
	int r = ioctl(v->fd, KVM_SET_CPUID2, c);
	free(c);
	if (r < 0) {
		snprintf(err, 256, "KVM refused the guest CPU model: %s", strerror(errno));
		return -1;
	}
	/* LINT0 as ExtINT and LINT1 as NMI, as firmware leaves them. */
	struct kvm_lapic_state la;
	if (ioctl(v->fd, KVM_GET_LAPIC, &la) == 0) {
		uint32_t *lvt0 = (uint32_t *)&la.regs[0x350];
		uint32_t *lvt1 = (uint32_t *)&la.regs[0x360];
		*lvt0 = (*lvt0 & ~0x700u & ~0x10000u) | 0x700;
		*lvt1 = (*lvt1 & ~0x700u & ~0x10000u) | 0x400;
		ioctl(v->fd, KVM_SET_LAPIC, &la);
	}
	return 0;
}

int vm_create(struct vm *vm, const struct vm_config *cfg,
	      const struct cpu_model *cpuid_model, char err[256])
{
	memset(vm, 0, sizeof(*vm));
	vm->kvm_fd = vm->vm_fd = vm->wake_fd = -1;
	vm->cfg = *cfg;
	pthread_mutex_init(&vm->park_lock, NULL);
	pthread_cond_init(&vm->park_cond, NULL);
	if (cfg->cpus < 1 || cfg->cpus > VM_MAX_CPUS) {
		snprintf(err, 256, "--cpus %d is out of range — use 1 to %d", cfg->cpus,
			 VM_MAX_CPUS);
		return -1;
	}
	vm->kvm_fd = vm_open_kvm(err);
	if (vm->kvm_fd < 0)
		return -1;
	int maxv = ioctl(vm->kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_MAX_VCPUS);
	if (maxv > 0 && cfg->cpus > maxv) {
		snprintf(err, 256, "--cpus %d is more than this host's KVM allows (%d)",
			 cfg->cpus, maxv);
		return -1;
	}
	if (cpuid_model) {
		vm->cpu = *cpuid_model;
	} else {
		struct kvm_cpuid_entry2 *host;
		int n = vm_host_cpuid(vm->kvm_fd, &host, err);
		if (n < 0)
			return -1;
		int r = cpu_model_build(&vm->cpu, cfg->cpu_model, host, n, err);
		free(host);
		if (r < 0)
			return -1;
	}
	vm->vm_fd = ioctl(vm->kvm_fd, KVM_CREATE_VM, 0);
	if (vm->vm_fd < 0) {
		snprintf(err, 256, "KVM could not create a VM: %s — is another "
			 "hypervisor using VT-x/AMD-V?", strerror(errno));
		return -1;
	}
	vm->run_size = (size_t)ioctl(vm->kvm_fd, KVM_GET_VCPU_MMAP_SIZE, 0);
	if (ioctl(vm->vm_fd, KVM_SET_TSS_ADDR, KVM_TSS_ADDR) < 0 ||
	    ioctl(vm->vm_fd, KVM_SET_IDENTITY_MAP_ADDR, &(uint64_t){ KVM_IDENTITY_ADDR }) < 0 ||
	    ioctl(vm->vm_fd, KVM_CREATE_IRQCHIP, 0) < 0) {
		snprintf(err, 256, "KVM could not set up the interrupt controller: %s",
			 strerror(errno));
		return -1;
	}
	struct kvm_pit_config pit = { .flags = KVM_PIT_SPEAKER_DUMMY };
	if (ioctl(vm->vm_fd, KVM_CREATE_PIT2, &pit) < 0) {
		snprintf(err, 256, "KVM could not create the PIT: %s", strerror(errno));
		return -1;
	}
	if (setup_memory(vm, err) < 0)
		return -1;
	vm->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	vm->irq = (struct irq_sink){ kvm_msi, kvm_line, vm };
	vm->ports = (struct platform_ports){ on_request, vm, 0 };
	if (vm_devices_create(vm, err) < 0)
		return -1;
	for (int i = 0; i < cfg->cpus; i++)
		if (create_vcpu(vm, i, err) < 0)
			return -1;
	return 0;
}

int vm_setup_boot_cpu(struct vm *vm, uint64_t entry, uint64_t boot_params,
		      char err[256])
{
	int fd = vm->vcpu[0].fd;
	struct kvm_sregs s;
	if (ioctl(fd, KVM_GET_SREGS, &s) < 0)
		goto fail;
	struct kvm_segment code = { .base = 0, .limit = 0xffffffff, .selector = 0x10,
		.type = 11, .present = 1, .dpl = 0, .db = 0, .s = 1, .l = 1, .g = 1 };
	struct kvm_segment data = code;
	data.selector = 0x18;
	data.type = 3;
	data.db = 1;
	data.l = 0;
	s.cs = code;
	s.ds = s.es = s.fs = s.gs = s.ss = data;
	s.gdt.base = BOOT_GDT_ADDR;
	s.gdt.limit = 4 * 8 - 1;
	s.idt.base = 0;
	s.idt.limit = 0;
	s.cr0 = 0x80000011;   /* PG | ET | PE */
	s.cr3 = BOOT_PML4_ADDR;
	s.cr4 = 0x20;         /* PAE */
	s.efer = 0x500;       /* LME | LMA */
	if (ioctl(fd, KVM_SET_SREGS, &s) < 0)
		goto fail;
	struct kvm_regs r = { 0 };
	r.rflags = 2;
	r.rip = entry;
	r.rsi = boot_params;
	r.rsp = r.rbp = 0x8ff0;
	if (ioctl(fd, KVM_SET_REGS, &r) < 0)
		goto fail;
	struct kvm_fpu fpu = { .fcw = 0x37f, .mxcsr = 0x1f80 };
	if (ioctl(fd, KVM_SET_FPU, &fpu) < 0)
		goto fail;
	return 0;
fail:
	snprintf(err, 256, "KVM refused the boot CPU state: %s", strerror(errno));
	return -1;
}

static void kick_handler(int sig)
{
	(void)sig;
}

static void park(struct vcpu *v)
{
	struct vm *vm = v->vm;
	pthread_mutex_lock(&vm->park_lock);
	v->parked = true;
	vm->parked_count++;
	pthread_cond_broadcast(&vm->park_cond);
	pthread_mutex_unlock(&vm->park_lock);
	uint64_t one = 1;
	if (write(vm->wake_fd, &one, sizeof(one)) < 0) {
		/* the main loop also polls the stop flag */
	}
}

/* Stops the VM for why (an error or a crash) with msg as the reason the
 * user sees, unless another stop came first. */
static void set_error(struct vm *vm, enum vm_stop why, const char *msg)
{
	int expect = VM_RUNNING;
	if (atomic_compare_exchange_strong(&vm->stop, &expect, (int)why))
		snprintf(vm->error, sizeof(vm->error), "%s", msg);
	vm_request_stop(vm, why);
}

static void handle_io(struct vcpu *v)
{
	struct kvm_run *run = v->run;
	uint8_t *data = (uint8_t *)run + run->io.data_offset;
	bool wr = run->io.direction == KVM_EXIT_IO_OUT;
	for (uint32_t i = 0; i < run->io.count; i++) {
		io_bus_access(&v->vm->pio, run->io.port, data, run->io.size, wr);
		data += run->io.size;
	}
}

static void *vcpu_thread(void *arg)
{
	struct vcpu *v = arg;
	struct vm *vm = v->vm;
	char msg[256];
	for (;;) {
		/* Re-entering with immediate_exit completes a pending I/O
		 * instruction without running further, so state is consistent. */
		if (atomic_load(&vm->stop))
			v->run->immediate_exit = 1;
		int r = ioctl(v->fd, KVM_RUN, 0);
		if (r < 0) {
			if (errno == EINTR || errno == EAGAIN) {
				if (atomic_load(&vm->stop))
					break;
				continue;
			}
			snprintf(msg, sizeof(msg), "vCPU %d stopped: KVM_RUN failed: %s",
				 v->index, strerror(errno));
			set_error(vm, VM_STOP_ERROR, msg);
			break;
		}
		switch (v->run->exit_reason) {
		case KVM_EXIT_IO:
			handle_io(v);
			break;
		case KVM_EXIT_MMIO:
			io_bus_access(&vm->mmio, v->run->mmio.phys_addr, v->run->mmio.data,
				      v->run->mmio.len, v->run->mmio.is_write);
			break;
		case KVM_EXIT_SHUTDOWN: {
			/* Triple fault. A PC would reset, but a crash is not a
			 * shutdown: the session's frozen generations must stay. */
			struct kvm_regs r;
			unsigned long long rip = ioctl(v->fd, KVM_GET_REGS, &r) == 0 ? r.rip : 0;
			snprintf(msg, sizeof(msg), "the guest crashed (vCPU %d triple fault at "
				 "RIP 0x%llx)", v->index, rip);
			set_error(vm, VM_STOP_CRASH, msg);
			break;
		}
		case KVM_EXIT_SYSTEM_EVENT:
			vm_request_stop(vm, v->run->system_event.type == KVM_SYSTEM_EVENT_RESET
					? VM_STOP_REBOOT : VM_STOP_POWEROFF);
			break;
		case KVM_EXIT_HLT:
			break;
		case KVM_EXIT_FAIL_ENTRY:
			snprintf(msg, sizeof(msg), "vCPU %d could not enter the guest "
				 "(hardware reason 0x%llx)", v->index,
				 (unsigned long long)v->run->fail_entry.hardware_entry_failure_reason);
			set_error(vm, VM_STOP_ERROR, msg);
			break;
		case KVM_EXIT_INTERNAL_ERROR:
			snprintf(msg, sizeof(msg), "vCPU %d: KVM internal error %u",
				 v->index, v->run->internal.suberror);
			set_error(vm, VM_STOP_ERROR, msg);
			break;
		default:
			snprintf(msg, sizeof(msg), "vCPU %d: unexpected exit %u", v->index,
				 v->run->exit_reason);
			set_error(vm, VM_STOP_ERROR, msg);
			break;
		}
	}
	v->run->immediate_exit = 0;
	park(v);
	return NULL;
}

int vm_start(struct vm *vm, char err[256])
{
	struct sigaction sa = { .sa_handler = kick_handler };
	sigemptyset(&sa.sa_mask);
	sigaction(SIGUSR1, &sa, NULL);
	/* vCPU threads take only the kick; the main thread handles the rest. */
	sigset_t all, old;
	sigfillset(&all);
	sigdelset(&all, SIGUSR1);
	sigdelset(&all, SIGSEGV);
	sigdelset(&all, SIGBUS);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	for (int i = 0; i < vm->cfg.cpus; i++) {
		if (pthread_create(&vm->vcpu[i].thread, NULL, vcpu_thread, &vm->vcpu[i])) {
			snprintf(err, 256, "cannot start vCPU thread %d", i);
			pthread_sigmask(SIG_SETMASK, &old, NULL);
			return -1;
		}
		vm->vcpu[i].started = true;
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return 0;
}

void vm_request_stop(struct vm *vm, enum vm_stop why)
{
	int expect = VM_RUNNING;
	atomic_compare_exchange_strong(&vm->stop, &expect, (int)why);
	for (int i = 0; i < vm->cfg.cpus; i++) {
		struct vcpu *v = &vm->vcpu[i];
		if (!v->started || v->parked)
			continue;
		v->run->immediate_exit = 1;
		if (!pthread_equal(v->thread, pthread_self()))
			pthread_kill(v->thread, SIGUSR1);
	}
	uint64_t one = 1;
	if (write(vm->wake_fd, &one, sizeof(one)) < 0) {
		/* best effort: the main loop also polls */
	}
}

void vm_wait_parked(struct vm *vm)
{
	for (int i = 0; i < vm->cfg.cpus; i++)
		if (vm->vcpu[i].started) {
			pthread_join(vm->vcpu[i].thread, NULL);
			vm->vcpu[i].started = false;
		}
}

void vm_destroy(struct vm *vm)
{
	vm_devices_destroy(vm);
	dirty_log_free(vm);
	for (int i = 0; i < vm->cfg.cpus; i++) {
		if (vm->vcpu[i].run && vm->vcpu[i].run != MAP_FAILED)
			munmap(vm->vcpu[i].run, vm->run_size);
		if (vm->vcpu[i].fd > 0)
			close(vm->vcpu[i].fd);
	}
	if (vm->mem.host)
		munmap(vm->mem.host, vm->mem.size);
	if (vm->vm_fd >= 0)
		close(vm->vm_fd);
	if (vm->kvm_fd >= 0)
		close(vm->kvm_fd);
	if (vm->wake_fd >= 0)
		close(vm->wake_fd);
}
