/* tabi: command line, and the main thread's loop while the guest runs. */
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include "acpi.h"
#include "boot_linux.h"
#include "console.h"
#include "session.h"
#include "snapshot.h"
#include "vm.h"
#include "vm_devices.h"

enum exit_code {
	EXIT_FROZEN = 0,      /* session frozen and committed */
	EXIT_ERROR = 1,       /* could not start or resume; nothing changed */
	EXIT_USAGE = 2,
	EXIT_POWEROFF = 3,    /* guest powered off */
	EXIT_REBOOT = 4,      /* guest rebooted */
	EXIT_FREEZE_FAILED = 5, /* freeze failed and the guest could not go on */
	EXIT_GUEST_FAILED = 6,  /* KVM stopped the guest with an error */
	EXIT_NOTHING = 7,       /* resume: no frozen session (or it had ended) */
};

static const char usage[] =
"usage: tabi run --kernel FILE [--initrd FILE] [--cmdline STR] [--mem SIZE]\n"
"                [--cpus N] [--disk FILE[,ro]]... [--cpu-model NAME] [--autosave MIN]\n"
"                --session DIR\n"
"       tabi resume --session DIR\n"
"       tabi snapshot info|verify DIR\n"
"       tabi --help | --version\n";

static const char help[] =
"tabi runs a guest on KVM and freezes it into a session directory that can\n"
"be resumed later, on this PC or another.\n"
"\n"
"tabi run: boot a Linux guest, creating the session in DIR\n"
"  --kernel FILE     guest kernel, a Linux bzImage (required)\n"
"  --initrd FILE     initial ramdisk for the guest\n"
"  --cmdline STR     guest kernel command line (default: \"console=ttyS0\")\n"
"  --mem SIZE        guest RAM, e.g. 512M, 2G (bare number: MiB; default 512M;\n"
"                    64M up to what the host has; RAM above 3 GiB is placed\n"
"                    above 4 GiB)\n"
"  --cpus N          virtual CPUs (default 1, at most 64)\n"
"  --disk FILE[,ro]  raw disk image as a virtio-blk disk (/dev/vda, vdb, ...);\n"
"                    ',ro' makes it read-only; may be repeated (at most 8)\n"
"  --cpu-model NAME  guest CPU model, fixed for the session's life:\n"
"                    x86-64-v2 (default), x86-64-v1, x86-64-v3, x86-64-v4, host;\n"
"                    features the host lacks are left out\n"
"  --autosave MIN    also write a generation every MIN minutes (decimals allowed,\n"
"                    0 = off, the default) while the guest runs: a pulled stick\n"
"                    loses at most that much work; each save pauses the guest\n"
"                    while the memory changed since the last one is written and\n"
"                    needs room for it on the stick\n"
"  --session DIR     where the session is frozen (must not hold one already)\n"
"tabi resume: resume the newest good generation in DIR on this PC\n"
"  --session DIR\n"
"tabi snapshot info DIR     generations, sizes, CPU model, memory, compression\n"
"tabi snapshot verify DIR   check every checksum (exit 0 good, 1 newest bad\n"
"                           but an older one good, 2 none good)\n"
"\n"
"While the guest runs, its serial console (COM1) is tabi's stdin/stdout; a\n"
"terminal is put in raw mode and restored on exit.\n"
"  Ctrl-A x          freeze the session into DIR and exit\n"
"  Ctrl-A Ctrl-A     send a Ctrl-A to the guest\n"
"  SIGTERM, SIGINT   freeze the session into DIR and exit; if that fails (no\n"
"                    room) the guest keeps running\n"
"  SIGPWR            freeze and exit; if that fails, exit 5 keeping the\n"
"                    previous generation (for power-off)\n"
"\n"
"Disk writes are kept beside the disk image until the next generation is\n"
"committed, so a session resumed after a pull always finds the disk as it\n"
"was when that generation was frozen. A guest shutdown ends the session: its\n"
"writes go into the image and the next start is a cold boot.\n"
"\n"
"Exit codes:\n"
"  0  the session was frozen and committed to DIR\n"
"  1  error: bad input, no usable KVM, damaged or refused session; one line on\n"
"     stderr says what to do; the session directory is unchanged\n"
"  2  usage error\n"
"  3  the guest powered off (the session has ended)\n"
"  4  the guest rebooted (the session has ended)\n"
"  5  freezing failed and the guest could not continue; the previous\n"
"     generation, if any, is intact\n"
"  6  the guest crashed (triple fault) or KVM stopped it with an error; the\n"
"     session's frozen generations are kept\n"
"  7  resume: DIR holds no frozen session (none yet, or the guest shut down):\n"
"     start one with tabi run\n";

static int fail(int code, const char *fmt, const char *a)
{
	console_restore();
	fprintf(stderr, "tabi: ");
	fprintf(stderr, fmt, a);
	fprintf(stderr, "\n");
	return code;
}

/* SIZE: number with optional K/M/G/T suffix (binary units); bare = MiB. */
static int parse_size(const char *s, uint64_t *out)
{
	char *end;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno || end == s || s[0] == '-')
		return -1;
	unsigned shift = 20;
	if (*end) {
		switch (*end) {
		case 'k': case 'K': shift = 10; break;
		case 'm': case 'M': shift = 20; break;
		case 'g': case 'G': shift = 30; break;
		case 't': case 'T': shift = 40; break;
		default: return -1;
		}
		end++;
		if (*end == 'i') end++;
		if (*end == 'B' || *end == 'b') end++;
		if (*end)
			return -1;
	}
	if (v > (UINT64_MAX >> shift))
		return -1;
	*out = (uint64_t)v << shift;
	return 0;
}

static uint64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static int restart(struct vm *vm, char err[512])
{
	atomic_store(&vm->stop, VM_RUNNING);
	for (int i = 0; i < vm->cfg.cpus; i++)
		vm->vcpu[i].parked = false;
	return vm_start(vm, err);
}

/* Runs the guest until it stops; freezes into dir on request. */
static int run_guest(struct vm *vm, const char *dir)
{
	char err[512];
	sigset_t mask;
	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGHUP);
	sigaddset(&mask, SIGPWR);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	int sfd = signalfd(-1, &mask, SFD_CLOEXEC);
	signal(SIGPIPE, SIG_IGN);
	console_raw();
	if (vm_start(vm, err) < 0)
		return fail(EXIT_ERROR, "%s", err);
	bool stdin_open = true;
	bool must_exit = false;    /* SIGPWR: the PC is going down regardless */
	uint64_t period = (uint64_t)vm->cfg.autosave_s * 1000;
	uint64_t next_save = period ? mono_ms() + period : 0;
	for (;;) {
		while (atomic_load(&vm->stop) == VM_RUNNING) {
			struct pollfd pf[3] = {
				{ .fd = vm->wake_fd, .events = POLLIN },
				{ .fd = sfd, .events = POLLIN },
				{ .fd = STDIN_FILENO, .events = POLLIN },
			};
			bool want_in = stdin_open && serial_input_room(&vm->uart) > 0;
			int timeout = want_in ? -1 : 20;
			if (next_save) {
				uint64_t now = mono_ms();
				if (now >= next_save) {
					vm_request_stop(vm, VM_STOP_AUTOSAVE);
					break;
				}
				if (timeout < 0 || next_save - now < (uint64_t)timeout)
					timeout = (int)(next_save - now);
			}
			int n = poll(pf, want_in ? 3 : 2, timeout);
			if (n < 0 && errno != EINTR)
				break;
			if (pf[0].revents) {
				uint64_t v;
				if (read(vm->wake_fd, &v, sizeof(v)) < 0) { /* drained */ }
			}
			if (pf[1].revents) {
				struct signalfd_siginfo si;
				if (read(sfd, &si, sizeof(si)) == sizeof(si) && si.ssi_signo != SIGHUP) {
					must_exit |= si.ssi_signo == SIGPWR;
					vm_request_stop(vm, VM_STOP_FREEZE);
				}
			}
			if (want_in && pf[2].revents) {
				uint8_t in[64], out[65];
				unsigned room = serial_input_room(&vm->uart);
				ssize_t r = read(STDIN_FILENO, in, room < sizeof(in) ? room : sizeof(in));
				if (r <= 0) {
					stdin_open = false;  /* EOF: the guest keeps running */
					continue;
				}
				enum console_action act;
				size_t k = console_filter(in, (size_t)r, out, &act);
				serial_push_input(&vm->uart, out, (unsigned)k);
				if (act == CONSOLE_FREEZE)
					vm_request_stop(vm, VM_STOP_FREEZE);
			}
		}
		vm_wait_parked(vm);
		int why = atomic_load(&vm->stop);
		if (why == VM_STOP_AUTOSAVE) {
			if (session_freeze(vm, dir, err) == 0)
				fprintf(stderr, "\r\ntabi: autosaved generation %llu\n",
					(unsigned long long)vm->parent);
			else
				fprintf(stderr, "\r\ntabi: autosave failed: %s; the guest keeps running\n", err);
			next_save = mono_ms() + period;
			if (restart(vm, err) < 0)
				return fail(EXIT_FREEZE_FAILED, "%s", err);
			continue;
		}
		if (why == VM_STOP_FREEZE) {
			fprintf(stderr, "\r\ntabi: freezing the session into %s\n", dir);
			if (session_freeze(vm, dir, err) == 0) {
				console_restore();
				fprintf(stderr, "tabi: session frozen; resume it with: tabi resume --session %s\n", dir);
				return EXIT_FROZEN;
			}
			if (must_exit) {
				const char *keep = vm->parent ? "the previous generation is kept; work since "
					"it was saved is lost" : "nothing was saved";
				console_restore();
				fprintf(stderr, "tabi: freeze failed: %s; %s\n", err, keep);
				return EXIT_FREEZE_FAILED;
			}
			fprintf(stderr, "tabi: freeze failed: %s; the guest keeps running\n", err);
			if (restart(vm, err) < 0)
				return fail(EXIT_FREEZE_FAILED, "%s", err);
			continue;
		}
		char e[256];
		vm_devices_quiesce(vm, e);
		console_restore();
		if (why == VM_STOP_POWEROFF || why == VM_STOP_REBOOT) {
			/* The session is over: its disk writes go into the images and
			 * the generations go, so the next start is a cold boot. */
			if (session_end(vm, dir, err) < 0)
				fprintf(stderr, "tabi: the guest's last disk writes could not be "
					"saved: %s; the last frozen generation is kept\n", err);
			fprintf(stderr, "tabi: the guest %s; the session has ended\n",
				why == VM_STOP_POWEROFF ? "powered off" : "rebooted");
			return why == VM_STOP_POWEROFF ? EXIT_POWEROFF : EXIT_REBOOT;
		}
		return fail(EXIT_GUEST_FAILED, "%s — the guest could not continue; the "
			    "session's frozen generations are kept", vm->error);
	}
}

static int parse_disk(const char *arg, struct vm_config *cfg)
{
	if (cfg->ndisks >= VM_MAX_DISKS)
		return -1;
	struct disk_config *d = &cfg->disk[cfg->ndisks++];
	snprintf(d->path, sizeof(d->path), "%s", arg);
	size_t n = strlen(d->path);
	if (n > 3 && !strcmp(d->path + n - 3, ",ro")) {
		d->path[n - 3] = 0;
		d->read_only = true;
	} else if (n > 3 && !strcmp(d->path + n - 3, ",rw")) {
		d->path[n - 3] = 0;
	}
	return 0;
}

static int cmd_run(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "kernel", required_argument, 0, 'k' }, { "initrd", required_argument, 0, 'i' },
		{ "cmdline", required_argument, 0, 'c' }, { "mem", required_argument, 0, 'm' },
		{ "cpus", required_argument, 0, 'p' }, { "disk", required_argument, 0, 'd' },
		{ "session", required_argument, 0, 's' }, { "cpu-model", required_argument, 0, 'M' },
		{ "autosave", required_argument, 0, 'a' },
		{ "help", no_argument, 0, 'h' }, { 0, 0, 0, 0 },
	};
	const char *kernel = NULL, *initrd = NULL, *cmdline = "console=ttyS0", *dir = NULL;
	struct vm_config cfg = { .mem_bytes = 512ULL << 20, .cpus = 1 };
	snprintf(cfg.cpu_model, sizeof(cfg.cpu_model), "%s", cpu_model_names[0]);
	int c;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		char *end;
		switch (c) {
		case 'k': kernel = optarg; break;
		case 'i': initrd = optarg; break;
		case 'c': cmdline = optarg; break;
		case 's': dir = optarg; break;
		case 'M': snprintf(cfg.cpu_model, sizeof(cfg.cpu_model), "%s", optarg); break;
		case 'm':
			if (parse_size(optarg, &cfg.mem_bytes) < 0)
				return fail(EXIT_USAGE, "--mem '%s' is not a size — use e.g. 512M or 2G", optarg);
			break;
		case 'p':
			cfg.cpus = (int)strtol(optarg, &end, 10);
			if (*end || end == optarg || cfg.cpus < 1 || cfg.cpus > VM_MAX_CPUS)
				return fail(EXIT_USAGE, "--cpus '%s' is not a number from 1 to 64", optarg);
			break;
		case 'd':
			if (parse_disk(optarg, &cfg) < 0)
				return fail(EXIT_USAGE, "too many --disk options (at most 8); dropped '%s'", optarg);
			break;
		case 'a': {
			/* Minutes, decimals allowed (0.5 = every 30 s). */
			double min = strtod(optarg, &end);
			if (*end || end == optarg || !(min >= 0 && min <= 24 * 60) ||
			    (min > 0 && min < 0.05))
				return fail(EXIT_USAGE, "--autosave '%s' is not a number of minutes "
					    "(0 = off, or 0.05 to 1440)", optarg);
			cfg.autosave_s = (unsigned)(min * 60 + 0.5);
			break;
		}
		case 'h': fputs(help, stdout); return 0;
		default:
			return fail(EXIT_USAGE, "unknown or incomplete option '%s' — see tabi --help",
				    argv[optind - 1]);
		}
	}
	if (optind < argc)
		return fail(EXIT_USAGE, "unexpected argument '%s' — see tabi --help", argv[optind]);
	if (!kernel)
		return fail(EXIT_USAGE, "%s", "missing --kernel FILE — the guest's Linux bzImage");
	if (!dir)
		return fail(EXIT_USAGE, "%s", "missing --session DIR — where the session is frozen");
	if (cfg.mem_bytes < VM_MIN_MEM)
		return fail(EXIT_USAGE, "%s", "--mem must be at least 64M");
	if (cfg.mem_bytes & 0xfff)
		return fail(EXIT_USAGE, "%s", "--mem must be a whole number of 4 KiB pages");
	snprintf(cfg.session_dir, sizeof(cfg.session_dir), "%s", dir);
	char lerr[512];
	int live = session_live(dir, lerr);
	if (live < 0)
		return fail(EXIT_ERROR, "%s", lerr);
	if (live)
		return fail(EXIT_ERROR, "session %s already holds a frozen session — resume "
			    "it with 'tabi resume --session DIR' or choose an empty directory", dir);
	session_forget_base(dir);
	/* Check what we can before creating anything. */
	struct stat st;
	if (stat(kernel, &st) < 0)
		return fail(EXIT_ERROR, "kernel %s: No such file — check the path given to --kernel", kernel);
	for (int i = 0; i < cfg.ndisks; i++)
		if (stat(cfg.disk[i].path, &st) < 0)
			return fail(EXIT_ERROR, "disk %s: No such file — check the path given to --disk",
				    cfg.disk[i].path);
	if (mkdir(dir, 0700) < 0 && errno != EEXIST)
		return fail(EXIT_ERROR, "cannot create session directory %s — check the path", dir);
	char err[256];
	static struct vm vm;
	if (vm_create(&vm, &cfg, NULL, err) < 0)
		return fail(EXIT_ERROR, "%s", err);
	uint64_t rsdp = acpi_install(&vm.mem, cfg.cpus, PCI_MMIO_WINDOW_BASE, PCI_MMIO_WINDOW_SIZE);
	struct boot_info bi;
	if (!rsdp)
		return fail(EXIT_ERROR, "%s", "internal error: ACPI tables do not fit");
	if (boot_linux_load(&vm.mem, kernel, initrd, cmdline, rsdp, &bi, err) < 0 ||
	    vm_setup_boot_cpu(&vm, bi.entry, bi.boot_params, err) < 0)
		return fail(EXIT_ERROR, "%s", err);
	return run_guest(&vm, dir);
}

static int cmd_resume(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "session", required_argument, 0, 's' }, { "help", no_argument, 0, 'h' },
		{ 0, 0, 0, 0 },
	};
	const char *dir = NULL;
	int c;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (c == 's') dir = optarg;
		else if (c == 'h') { fputs(help, stdout); return 0; }
		else return fail(EXIT_USAGE, "unknown or incomplete option '%s' — see tabi --help",
				 argv[optind - 1]);
	}
	if (!dir || optind < argc)
		return fail(EXIT_USAGE, "%s", "usage: tabi resume --session DIR");
	static struct vm vm;
	char err[512];
	/* One verified open of the newest generation: session_resume also
	 * finishes a session that ended with a guest shutdown. */
	uint64_t *gens;
	int ng = snap_list_generations(dir, &gens);
	if (ng > 0)
		free(gens);
	if (ng == 0 || (ng < 0 && errno == ENOENT))
		return fail(EXIT_NOTHING, "no frozen session in %s — start one with tabi run", dir);
	int rc = session_resume(&vm, dir, err);
	if (rc == SESSION_NOTHING)
		return fail(EXIT_NOTHING, "%s", err);
	if (rc < 0)
		return fail(EXIT_ERROR, "%s", err);
	return run_guest(&vm, dir);
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		fputs(usage, stderr);
		return EXIT_USAGE;
	}
	const char *cmd = argv[1];
	if (!strcmp(cmd, "--help") || !strcmp(cmd, "-h") || !strcmp(cmd, "help")) {
		fputs(usage, stdout);
		fputs("\n", stdout);
		fputs(help, stdout);
		return 0;
	}
	if (!strcmp(cmd, "--version")) {
		puts("tabi 0.1");
		return 0;
	}
	if (!strcmp(cmd, "run"))
		return cmd_run(argc - 1, argv + 1);
	if (!strcmp(cmd, "resume"))
		return cmd_resume(argc - 1, argv + 1);
	if (!strcmp(cmd, "snapshot"))
		return snap_cli_main(argc - 2, argv + 2);
	return fail(EXIT_USAGE, "unknown command '%s' — use run, resume or snapshot (see tabi --help)", cmd);
}
