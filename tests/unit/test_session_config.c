/* Session config text: round trip (disks inside the session stored relative,
 * resolved against wherever the session is found next) and refusal of
 * configs tabi did not write. */
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>
#include "unit.h"
#include "session.h"

static char root[64], sess[128], inside[160], outside[160];

static void touch(const char *p)
{
	int fd = open(p, O_WRONLY | O_CREAT, 0600);
	CHECK(fd >= 0);
	close(fd);
}

static struct vm_config base_cfg(void)
{
	struct vm_config c;
	memset(&c, 0, sizeof(c));
	snprintf(c.cpu_model, sizeof(c.cpu_model), "x86-64-v3");
	c.mem_bytes = 512ULL << 20;
	c.cpus = 4;
	c.tsc_khz = 2400123;
	c.ndisks = 2;
	snprintf(c.disk[0].path, sizeof(c.disk[0].path), "%s", inside);
	c.disk[0].read_only = false;
	snprintf(c.disk[1].path, sizeof(c.disk[1].path), "%s", outside);
	c.disk[1].read_only = true;
	return c;
}

static int parse(const char *text, struct vm_config *c)
{
	char err[512] = "";
	int r = session_config_parse(text, strlen(text), sess, c, err);
	if (r < 0) {
		CHECK(err[0] && !strchr(err, '\n'));
		CHECK(strstr(err, sess) != NULL);
	}
	return r;
}

#define GOOD "format=tabi-session-1\ncpu_model=x86-64-v2\nmem_bytes=134217728\n" \
	     "cpus=2\ntsc_khz=1000\nndisks=0\nsaved=1\n"

static void test_round_trip(void)
{
	struct vm_config c = base_cfg(), r;
	char text[16384];
	int n = session_config_text(&c, sess, text, sizeof(text));
	CHECK(n > 0);
	CHECK_EQ((size_t)n, strlen(text));
	CHECK(strstr(text, "format=tabi-session-1\n") == text);
	CHECK(strstr(text, "\ndisk0=disk.img\n") != NULL);   /* stored relative */
	CHECK(strstr(text, "\ndisk1=/") != NULL);            /* outside: absolute */
	char err[512] = "";
	CHECK_EQ(session_config_parse(text, (size_t)n, sess, &r, err), 0);
	CHECK(!strcmp(r.cpu_model, "x86-64-v3"));
	CHECK_EQ(r.mem_bytes, 512ULL << 20);
	CHECK_EQ(r.cpus, 4);
	CHECK_EQ(r.tsc_khz, 2400123);
	CHECK_EQ(r.autosave_s, 0);
	CHECK_EQ(r.ndisks, 2);
	char want[4200];
	snprintf(want, sizeof(want), "%s/disk.img", sess);
	CHECK(!strcmp(r.disk[0].path, want));
	CHECK(!r.disk[0].read_only);
	char rp[4096];
	CHECK(realpath(outside, rp) != NULL);
	CHECK(!strcmp(r.disk[1].path, rp));
	CHECK(r.disk[1].read_only);
	/* The same text found under another mount point. */
	CHECK_EQ(session_config_parse(text, (size_t)n, "/media/stick/session", &r, err), 0);
	CHECK(!strcmp(r.disk[0].path, "/media/stick/session/disk.img"));
	CHECK(!strcmp(r.disk[1].path, rp));

	/* A path spelled with ./ and .. inside the session still goes relative. */
	snprintf(c.disk[0].path, sizeof(c.disk[0].path), "%s/./sub/../disk.img", sess);
	char sub[200];
	snprintf(sub, sizeof(sub), "%s/sub", sess);
	mkdir(sub, 0700);
	c.ndisks = 1;
	n = session_config_text(&c, sess, text, sizeof(text));
	CHECK(strstr(text, "\ndisk0=disk.img\n") != NULL);
	/* Session dir given with a trailing slash. */
	char sess_slash[200];
	snprintf(sess_slash, sizeof(sess_slash), "%s/", sess);
	n = session_config_text(&c, sess_slash, text, sizeof(text));
	CHECK(strstr(text, "\ndisk0=disk.img\n") != NULL);
	rmdir(sub);
	/* A sibling directory whose name extends the session's is not inside. */
	char sib[200], sibdisk[240];
	snprintf(sib, sizeof(sib), "%sX", sess);
	mkdir(sib, 0700);
	snprintf(sibdisk, sizeof(sibdisk), "%s/d.img", sib);
	touch(sibdisk);
	snprintf(c.disk[0].path, sizeof(c.disk[0].path), "%s", sibdisk);
	n = session_config_text(&c, sess, text, sizeof(text));
	CHECK(strstr(text, "\ndisk0=/") != NULL);
	CHECK_EQ(session_config_parse(text, (size_t)n, sess, &r, err), 0);
	CHECK(realpath(sibdisk, rp) && !strcmp(r.disk[0].path, rp));
	unlink(sibdisk);
	rmdir(sib);

	/* No disks, 1 and 64 vCPUs, minimum memory. */
	c = base_cfg();
	c.ndisks = 0;
	c.cpus = 64;
	c.mem_bytes = 64ULL << 20;
	n = session_config_text(&c, sess, text, sizeof(text));
	CHECK_EQ(session_config_parse(text, (size_t)n, sess, &r, err), 0);
	CHECK_EQ(r.cpus, 64);
	CHECK_EQ(r.ndisks, 0);
	CHECK_EQ(r.mem_bytes, 64ULL << 20);
	/* Large memory survives (no 32-bit truncation). */
	c.mem_bytes = 48ULL << 30;
	c.cpus = 1;
	n = session_config_text(&c, sess, text, sizeof(text));
	CHECK_EQ(session_config_parse(text, (size_t)n, sess, &r, err), 0);
	CHECK_EQ(r.mem_bytes, 48ULL << 30);
	CHECK_EQ(r.cpus, 1);

	/* Eight disks. */
	c = base_cfg();
	c.ndisks = 8;
	for (int i = 0; i < 8; i++) {
		snprintf(c.disk[i].path, sizeof(c.disk[i].path), "%s", i % 2 ? outside : inside);
		c.disk[i].read_only = i % 3 == 0;
	}
	n = session_config_text(&c, sess, text, sizeof(text));
	CHECK_EQ(session_config_parse(text, (size_t)n, sess, &r, err), 0);
	CHECK_EQ(r.ndisks, 8);
	int ok = 1;
	for (int i = 0; i < 8; i++)
		ok &= r.disk[i].read_only == (i % 3 == 0) && r.disk[i].path[0] == '/';
	CHECK(ok);

	/* Output buffer too small: -1, no overrun. */
	char *tiny = malloc(40);
	CHECK_EQ(session_config_text(&c, sess, tiny, 40), -1);
	free(tiny);
	c.ndisks = 1;
	n = session_config_text(&c, sess, text, sizeof(text));
	char *exact = malloc((size_t)n + 1);
	CHECK_EQ(session_config_text(&c, sess, exact, (size_t)n + 1), n);
	CHECK_EQ(session_config_text(&c, sess, exact, (size_t)n), -1);
	free(exact);

	/* parse honours len: text past it is not read. */
	char buf[512];
	snprintf(buf, sizeof(buf), "%scpus=0\n", GOOD);
	CHECK_EQ(session_config_parse(buf, strlen(GOOD), sess, &r, err), 0);
	CHECK_EQ(r.cpus, 2);
	/* No final newline is fine. */
	CHECK_EQ(session_config_parse(GOOD, strlen(GOOD) - 1, sess, &r, err), 0);
}

/* The autosave interval survives a freeze in seconds (--autosave takes
 * decimal minutes); sessions written with whole minutes still read. */
static void test_autosave(void)
{
	struct vm_config c = base_cfg(), r;
	char text[16384], err[512] = "";
	c.autosave_s = 15;
	int n = session_config_text(&c, sess, text, sizeof(text));
	CHECK(n > 0);
	CHECK_EQ(session_config_parse(text, (size_t)n, sess, &r, err), 0);
	CHECK_EQ(r.autosave_s, 15);
	CHECK(strstr(text, "\nautosave_min=1\n") != NULL);   /* rounded up, for older readers */
	char t[600];
	snprintf(t, sizeof(t), "%sautosave_min=5\n", GOOD);
	CHECK_EQ(parse(t, &r), 0);
	CHECK_EQ(r.autosave_s, 300);
	snprintf(t, sizeof(t), "%sautosave_min=5\nautosave_s=42\n", GOOD);
	CHECK_EQ(parse(t, &r), 0);
	CHECK_EQ(r.autosave_s, 42);
	snprintf(t, sizeof(t), "%sautosave_s=42\nautosave_min=5\n", GOOD);
	CHECK_EQ(parse(t, &r), 0);
	CHECK_EQ(r.autosave_s, 42);
}

static void test_reject(void)
{
	struct vm_config r;
	char t[9000];
	CHECK_EQ(parse(GOOD, &r), 0);
	CHECK_EQ(r.cpus, 2);
	CHECK_EQ(r.mem_bytes, 128ULL << 20);
	CHECK(!strcmp(r.cpu_model, "x86-64-v2"));

	CHECK_EQ(parse("cpu_model=x86-64-v2\nmem_bytes=134217728\ncpus=2\nndisks=0\n", &r), -1);
	CHECK_EQ(parse("format=tabi-session-2\ncpu_model=x86-64-v2\nmem_bytes=134217728\n"
		       "cpus=2\nndisks=0\n", &r), -1);
	CHECK_EQ(parse("format=tabi-session-1x\ncpu_model=x86-64-v2\nmem_bytes=134217728\n"
		       "cpus=2\nndisks=0\n", &r), -1);
	CHECK_EQ(parse("format=\ncpu_model=x86-64-v2\nmem_bytes=134217728\ncpus=2\nndisks=0\n", &r), -1);
	CHECK_EQ(parse("", &r), -1);
	const char *cpus[] = { "0", "65", "-1", "", "abc" };
	for (int i = 0; i < 5; i++) {
		snprintf(t, sizeof(t), "%scpus=%s\n", GOOD, cpus[i]);
		CHECK_EQ(parse(t, &r), -1);
	}
	snprintf(t, sizeof(t), "%scpus=64\n", GOOD);
	CHECK_EQ(parse(t, &r), 0);
	CHECK_EQ(r.cpus, 64);
	snprintf(t, sizeof(t), "%smem_bytes=%llu\n", GOOD, (64ULL << 20) - 1);
	CHECK_EQ(parse(t, &r), -1);
	snprintf(t, sizeof(t), "%smem_bytes=0\n", GOOD);
	CHECK_EQ(parse(t, &r), -1);
	snprintf(t, sizeof(t), "%scpu_model=\n", GOOD);
	CHECK_EQ(parse(t, &r), -1);
	snprintf(t, sizeof(t), "%sndisks=9\n", GOOD);
	CHECK_EQ(parse(t, &r), -1);
	snprintf(t, sizeof(t), "%sndisks=-1\n", GOOD);
	CHECK_EQ(parse(t, &r), -1);
	CHECK_EQ(parse("format=tabi-session-1\ncpu_model=x86-64-v2\nmem_bytes=134217728\n"
		       "cpus=2\n", &r), -1);                   /* no ndisks */
	/* A disk index without a path. */
	snprintf(t, sizeof(t), "%sndisks=2\ndisk0=a.img\ndisk1_ro=1\n", GOOD);
	CHECK_EQ(parse(t, &r), -1);
	snprintf(t, sizeof(t), "%sndisks=1\ndisk1=a.img\n", GOOD);
	CHECK_EQ(parse(t, &r), -1);
	snprintf(t, sizeof(t), "%sndisks=2\ndisk0=a.img\ndisk1=/abs/b.img\ndisk1_ro=1\n", GOOD);
	CHECK_EQ(parse(t, &r), 0);
	CHECK(r.disk[1].read_only && !r.disk[0].read_only);
	CHECK(!strcmp(r.disk[1].path, "/abs/b.img"));

	/* Garbage lines are ignored, and never touch the disks they resemble. */
	snprintf(t, sizeof(t), "junk\n\n=\n==x\n%s\x01\xff=\xfe\nndisks=1\ndisk0=a.img\n"
		 "disk99=/x\ndisk-1=/y\ndiskX=/z\ndisk8=/w\ndisk8_ro=1\ndisk0_cache=writeback\n"
		 "disk0_ro_extra=1\nunknown_key=1\n", GOOD);
	CHECK_EQ(parse(t, &r), 0);
	char want[300];
	snprintf(want, sizeof(want), "%s/a.img", sess);
	CHECK(!strcmp(r.disk[0].path, want));
	CHECK(!r.disk[0].read_only);
	CHECK_EQ(r.ndisks, 1);
	CHECK_EQ(r.disk[7].path[0], 0);
	/* Embedded NUL inside the text does not end parsing early or crash. */
	char withnul[400];
	size_t gl = strlen(GOOD);
	memcpy(withnul, "x\0y\n", 4);
	memcpy(withnul + 4, GOOD, gl);
	char err[512];
	CHECK_EQ(session_config_parse(withnul, gl + 4, sess, &r, err), 0);

	/* Overlong lines are refused. */
	size_t n = (size_t)snprintf(t, sizeof(t), "%sndisks=1\ndisk0=", GOOD);
	memset(t + n, 'p', 8000);
	t[n + 8000] = 0;
	CHECK_EQ(parse(t, &r), -1);
	n = (size_t)snprintf(t, sizeof(t), "%sjunk=", GOOD);
	memset(t + n, 'q', 5000);
	strcpy(t + n + 5000, "\n");
	CHECK_EQ(parse(t, &r), -1);
	/* A long (but not overlong) disk path is truncated safely, not overrun. */
	n = (size_t)snprintf(t, sizeof(t), "%sndisks=1\ndisk0=/", GOOD);
	memset(t + n, 'r', 4150);
	strcpy(t + n + 4150, "\n");
	parse(t, &r);
	CHECK(strlen(r.disk[0].path) < sizeof(r.disk[0].path));
}

int main(void)
{
	snprintf(root, sizeof(root), "/tmp/tabi-cfg-XXXXXX");
	if (!mkdtemp(root))
		return 1;
	snprintf(sess, sizeof(sess), "%s/session", root);
	mkdir(sess, 0700);
	snprintf(inside, sizeof(inside), "%s/disk.img", sess);
	snprintf(outside, sizeof(outside), "%s/outside.img", root);
	touch(inside);
	touch(outside);
	test_round_trip();
	test_reject();
	test_autosave();
	unlink(inside);
	unlink(outside);
	rmdir(sess);
	rmdir(root);
	UNIT_MAIN_END();
}
