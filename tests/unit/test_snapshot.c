/* Snapshot library: round trips, generations, leftovers, CLI exit codes. */
#include "unit.h"
#include "test_snapshot_lib.h"

static uint64_t prog_last, prog_total;
static int prog_calls;
static void prog(void *ctx, uint64_t done, uint64_t total)
{
	(void)ctx;
	CHECK(done <= total);
	prog_last = done;
	prog_total = total;
	prog_calls++;
}

static void round_trip(uint64_t len, int threads)
{
	char *dir = t_mkdtemp();
	uint8_t *mem = t_mem(len, len + (uint64_t)threads);
	char err[SNAP_ERR_LEN], note[SNAP_ERR_LEN];
	struct snap_writer *w = snap_begin(dir, err);
	CHECK(w != NULL);
	CHECK_EQ(snap_put_section(w, "config", t_config, strlen(t_config)), 0);
	CHECK_EQ(snap_put_section(w, "empty", "", 0), 0);
	CHECK(snap_put_section(w, "config", "x", 1) != 0); /* duplicate */
	prog_calls = 0;
	CHECK_EQ(snap_commit(w, err), -1);     /* the duplicate poisons it */
	CHECK(strlen(err) > 0);
	CHECK(!t_exists(t_gen_path(dir, 1)));

	w = snap_begin(dir, err);
	CHECK_EQ(snap_put_section(w, "config", t_config, strlen(t_config)), 0);
	CHECK_EQ(snap_put_section(w, "empty", "", 0), 0);
	if (threads > 2)   /* other levels read back the same */
		snap_set_level(w, threads == 3 ? 3 : -5);
	CHECK_EQ(snap_put_memory(w, "ram", mem, len, threads, prog, NULL), 0);
	CHECK_EQ(prog_last, len);
	CHECK_EQ(prog_total, len);
	CHECK_EQ(snap_put_memory(w, "vram", mem, len / 3, threads, NULL, NULL), 0);
	CHECK_EQ(snap_commit(w, err), 0);

	struct snap_reader *r = snap_open(dir, err, note);
	CHECK(r != NULL);
	if (!r) {
		fprintf(stderr, "open: %s\n", err);
		goto out;
	}
	CHECK_EQ(note[0], 0);
	CHECK_EQ(snap_generation(r), 1);
	size_t sl = 99;
	const char *cfg = snap_get_section(r, "config", &sl);
	CHECK(cfg && sl == strlen(t_config) && !memcmp(cfg, t_config, sl));
	CHECK(snap_get_section(r, "empty", &sl) != NULL && sl == 0);
	CHECK(snap_get_section(r, "nope", &sl) == NULL);
	CHECK_EQ(snap_memory_len(r, "ram"), len);
	CHECK_EQ(snap_memory_len(r, "vram"), len / 3);
	CHECK_EQ(snap_memory_len(r, "nope"), (uint64_t)-1);

	uint8_t *dst = malloc(len + 1);
	memset(dst, 0xAA, len);
	prog_calls = 0;
	CHECK_EQ(snap_get_memory(r, "ram", dst, len, threads, false, prog, NULL,
				 err), 0);
	CHECK(memcmp(dst, mem, len) == 0);
	CHECK_EQ(prog_last, len);
	memset(dst, 0, len);
	CHECK_EQ(snap_get_memory(r, "ram", dst, len, threads, true, NULL, NULL,
				 err), 0);
	CHECK(memcmp(dst, mem, len) == 0);
	CHECK_EQ(snap_get_memory(r, "vram", dst, len / 3, 1, false, NULL, NULL,
				 err), 0);
	CHECK(memcmp(dst, mem, len / 3) == 0);
	CHECK(snap_get_memory(r, "ram", dst, len - 1, 1, false, NULL, NULL,
			      err) != 0);
	CHECK(strstr(err, "memory size") != NULL);
	CHECK(snap_get_memory(r, "nope", dst, len, 1, false, NULL, NULL,
			      err) != 0);
	free(dst);
	snap_close(r);
out:
	free(mem);
	t_rmrf(dir);
	free(dir);
}

static void generations(void)
{
	char *dir = t_mkdtemp();
	uint64_t len = 3 * MIB + 17;
	char err[SNAP_ERR_LEN], note[SNAP_ERR_LEN];
	for (int g = 1; g <= 4; g++) {
		uint8_t *mem = t_mem(len, (uint64_t)g);
		CHECK_EQ(t_write_gen(dir, mem, len, 2), 0);
		free(mem);
	}
	/* The newest and the one before it stay; older ones are dropped. */
	CHECK(t_exists(t_gen_path(dir, 4)));
	CHECK(t_exists(t_gen_path(dir, 3)));
	CHECK(!t_exists(t_gen_path(dir, 2)));
	CHECK(!t_exists(t_gen_path(dir, 1)));

	/* A crashed writer's temporary file is invisible to readers... */
	char tmp[4096];
	snprintf(tmp, sizeof(tmp), "%s/.gen-00000009.tabi.tmp", dir);
	CHECK_EQ(t_write_file(tmp, "TABISNAP half written", 21), 0);
	struct snap_reader *r = snap_open(dir, err, note);
	CHECK(r && snap_generation(r) == 4 && !note[0]);
	uint8_t *mem = t_mem(len, 4), *dst = malloc(len);
	CHECK(r && snap_get_memory(r, "ram", dst, len, 2, false, NULL, NULL,
				   err) == 0);
	CHECK(memcmp(dst, mem, len) == 0);
	snap_close(r);
	/* ...and cleaned by the next writer, which aborts here. */
	struct snap_writer *w = snap_begin(dir, err);
	CHECK(w != NULL);
	CHECK(!t_exists(tmp));
	snprintf(tmp, sizeof(tmp), "%s/.gen-00000005.tabi.tmp", dir);
	CHECK(t_exists(tmp));            /* its own temporary file */
	snap_abort(w);
	CHECK(!t_exists(tmp));
	CHECK(!t_exists(t_gen_path(dir, 5)));
	/* Unrelated files are never generations and never removed. */
	snprintf(tmp, sizeof(tmp), "%s/gen-5.tabi", dir);
	CHECK_EQ(t_write_file(tmp, "x", 1), 0);
	CHECK_EQ(t_write_gen(dir, mem, len, 1), 0);
	CHECK(t_exists(t_gen_path(dir, 5)) && t_exists(tmp));
	r = snap_open(dir, err, note);
	CHECK(r && snap_generation(r) == 5);
	snap_close(r);
	CHECK(snap_estimate_bytes(len) > len);
	free(mem);
	free(dst);
	t_rmrf(dir);
	free(dir);
}

static void cli(void)
{
	char *dir = t_mkdtemp();
	uint64_t len = 2 * MIB + 5;
	uint8_t *mem = t_mem(len, 9);
	CHECK_EQ(t_cli("verify", dir), 2);           /* no session */
	CHECK_EQ(t_cli("info", dir), 2);
	CHECK_EQ(t_cli("verify", NULL), 64);         /* usage */
	CHECK_EQ(t_cli("frobnicate", dir), 64);
	CHECK_EQ(t_write_gen(dir, mem, len, 2), 0);
	CHECK_EQ(t_write_gen(dir, mem, len, 2), 0);
	CHECK_EQ(t_cli("verify", dir), 0);
	CHECK_EQ(t_cli("info", dir), 0);
	/* Damage the newest: verify says an older one is good. */
	size_t fl;
	uint8_t *f = t_read_file(t_gen_path(dir, 2), &fl);
	f[fl / 2] ^= 0x10;
	CHECK_EQ(t_write_file(t_gen_path(dir, 2), f, fl), 0);
	CHECK_EQ(t_cli("verify", dir), 1);
	CHECK_EQ(t_cli("info", dir), 0);
	f[fl / 2] ^= 0x10;
	CHECK_EQ(t_write_file(t_gen_path(dir, 1), f, fl / 3), 0);
	CHECK_EQ(t_cli("verify", dir), 2);
	CHECK_EQ(t_cli("info", dir), 2);
	free(f);
	free(mem);
	t_rmrf(dir);
	free(dir);
}

int main(void)
{
	round_trip(0, 1);
	round_trip(100, 1);
	round_trip(5 * MIB + 123, 1);
	round_trip(5 * MIB + 123, 3);
	round_trip(8 * MIB, 4);
	generations();
	cli();
	UNIT_MAIN_END();
}
