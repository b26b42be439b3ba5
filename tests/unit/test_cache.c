/* test_cache.c - HDF5 analysis caches: a round trip through the writer and
 * the reader, the on-disk types of the original's layout, the journal of
 * an analysis in progress (checkpoints, resuming, damage, a second writer),
 * foreign and damaged files, the digest that keeps them from HDF5, and
 * caches written by h5py in the original tool's layout
 * (tools/make_original_cache.py), imported. */
#include <fcntl.h>
#include <float.h>
#include <hdf5.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "corpus_testlib.h"
#include "testutil.h"

static char *dir;
static const char *vocab[] = {"<|endoftext|>", "hello", "\xc4\xa0world", "!",
                              ("\xc4\xa0"
                               "caf\xc3\xa9")}; /* "Ġcafé"; split so \xa0c is not one escape */

static char *path_in(const char *name) {
    return lmd_path_join(dir, name);
}

/* Three texts: 2 tokens, 0 tokens, 3 tokens; k = 2. */
static void write_three(const char *path, const char *model, const char *weights, int upto,
                        int finish) {
    lmd_cache_info in = ct_info(model, weights, 2);
    lmd_cache_writer *w;
    lmd_error err;
    if (lmd_cache_create(path, &in, vocab, 5, &w, &err) < 0) fail_msg("%s", err.msg);
    lmd_scores s[3] = {ct_scores(2, 2), ct_scores(0, 2), ct_scores(3, 2)};
    ct_token(&s[0], 0, 1, 1, 0.75f, 1.5f, (int32_t[]){1, 2});
    ct_token(&s[0], 1, 2, 4, 0.125f, 2.0f, (int32_t[]){3, 1});
    ct_token(&s[2], 0, 4, 2, 0.25f, 0.5f, (int32_t[]){1, 4});
    ct_token(&s[2], 1, 3, 1, 0.5f, 0.25f, (int32_t[]){3, 0});
    ct_token(&s[2], 2, 1, 7, 1e-30f, 3.0f, (int32_t[]){0, 2});
    s[2].logprob[2] = -69.0; /* exact, unlike ln of the float32 prob */
    const char *phrases[3] = {"hello world", "", "caf\xc3\xa9!"};
    for (int i = 0; i < upto; i++)
        if (lmd_cache_append(w, phrases[i], strlen(phrases[i]), &s[i], &err) < 0)
            fail_msg("%s", err.msg);
    for (int i = 0; i < 3; i++)
        ct_scores_free(&s[i]);
    if (finish) {
        if (lmd_cache_finish(w, finish > 0, &err) < 0) fail_msg("%s", err.msg);
    } else {
        lmd_cache_writer_abort(w);
    }
}

static void test_roundtrip(void **st) {
    (void)st;
    char *p = path_in("rt.h5");
    write_three(p, "tiny-a", "w1", 3, 1);
    lmd_cache *c;
    lmd_error err;
    if (lmd_cache_open(p, &c, &err) < 0) fail_msg("%s", err.msg);
    const lmd_cache_info *in = lmd_cache_get_info(c);
    assert_string_equal(in->dataset_name, "tiny-ds");
    assert_string_equal(in->dataset_checksum, "c0ffee");
    assert_string_equal(in->vocab_hash, "v0cab");
    assert_string_equal(in->model_name, "tiny-a");
    assert_string_equal(in->weights_hash, "w1");
    assert_string_equal(in->lmdiff_version, LMD_VERSION);
    assert_int_equal(in->format, LMD_CACHE_FORMAT);
    assert_int_equal(in->top_k, 2);
    assert_int_equal(in->context, 1024);
    assert_int_equal(in->stride, 512);
    assert_int_equal(in->n_texts, 3);
    assert_int_equal(in->n_vocab, 5);
    assert_int_equal(in->complete, 1);
    assert_string_equal(lmd_cache_vocab(c, 2), "\xc4\xa0world");
    assert_null(lmd_cache_vocab(c, 5));

    lmd_cache_text t;
    assert_int_equal(lmd_cache_read_text(c, 0, LMD_CACHE_PHRASE, &t, &err), 0);
    assert_string_equal(t.phrase, "hello world");
    assert_int_equal(t.s.n, 2);
    assert_int_equal(t.s.k, 2);
    assert_int_equal(t.s.ids[1], 2);
    assert_int_equal(t.s.rank[0], 1); /* 1-based again */
    assert_int_equal(t.s.rank[1], 4);
    assert_true(t.s.prob[0] == 0.75f);
    assert_true(t.s.entropy[1] == 2.0f);
    assert_int_equal(t.s.topk_ids[2], 3);
    assert_true(t.s.topk_prob[3] == 0.25f);
    assert_true(t.has_entropy && t.has_logprob);
    lmd_cache_text_free(&t);

    assert_int_equal(lmd_cache_read_text(c, 1, LMD_CACHE_PHRASE, &t, &err), 0); /* the empty text */
    assert_string_equal(t.phrase, "");
    assert_int_equal(t.s.n, 0);
    lmd_cache_text_free(&t);

    assert_int_equal(lmd_cache_read_text(c, 2, 0, &t, &err), 0);
    assert_null(t.phrase);
    assert_true(t.s.logprob[2] == -69.0);
    assert_true(t.s.prob[2] == 1e-30f);
    lmd_cache_text_free(&t);

    assert_int_equal(lmd_cache_read_text(c, 3, 0, &t, &err), -1);
    assert_non_null(strstr(err.msg, "no text 3"));
    lmd_cache_close(c);
    free(p);
}

/* What h5py and the original read: types, 0-based ranks, names. */
static void test_on_disk_layout(void **st) {
    (void)st;
    char *p = path_in("layout.h5");
    write_three(p, "tiny-a", "w1", 3, 1);
    hid_t f = H5Fopen(p, H5F_ACC_RDONLY, H5P_DEFAULT);
    assert_true(f >= 0);
    hid_t a = H5Aopen(f, "vocab_hash", H5P_DEFAULT);
    hid_t t = H5Aget_type(a);
    assert_int_equal(H5Tget_class(t), H5T_STRING);
    assert_true(H5Tis_variable_str(t) > 0);
    assert_int_equal(H5Tget_cset(t), H5T_CSET_UTF8);
    H5Tclose(t);
    H5Aclose(a);
    hid_t d = H5Dopen2(f, "000000000000000/ranks", H5P_DEFAULT);
    t = H5Dget_type(d);
    assert_true(H5Tequal(t, H5T_STD_U32LE) > 0);
    uint32_t r[2];
    H5Dread(d, H5T_NATIVE_UINT32, H5S_ALL, H5S_ALL, H5P_DEFAULT, r);
    assert_int_equal(r[0], 0);
    assert_int_equal(r[1], 3);
    H5Tclose(t);
    H5Dclose(d);
    static const struct {
        const char *name;
        hid_t type;
    } want[] = {{"token_ids", 0},      {"probs", 0},   {"topk_probs", 0},
                {"topk_token_ids", 0}, {"entropy", 0}, {"logprobs", 0}};
    hid_t types[] = {H5T_STD_I64LE, H5T_IEEE_F32LE, H5T_IEEE_F32LE,
                     H5T_STD_I64LE, H5T_IEEE_F32LE, H5T_IEEE_F64LE};
    for (int i = 0; i < 6; i++) {
        char name[64];
        snprintf(name, sizeof name, "000000000000002/%s", want[i].name);
        d = H5Dopen2(f, name, H5P_DEFAULT);
        assert_true(d >= 0);
        t = H5Dget_type(d);
        assert_true(H5Tequal(t, types[i]) > 0);
        H5Tclose(t);
        H5Dclose(d);
    }
    H5Fclose(f);
    free(p);
}

/* Leaves a half-written segment, as a kill during a checkpoint would. */
static void leave_tmp(const char *jdir, const char *name) {
    char *p = lmd_path_join(jdir, name);
    FILE *f = fopen(p, "wb");
    assert_non_null(f);
    fputs("\x89HDF\r\n half a segment", f);
    fclose(f);
    free(p);
}

static void test_checkpoint_and_resume(void **st) {
    (void)st;
    char *jd = path_in("partial.h5.partial"), *p = path_in("partial.h5");
    lmd_error err;
    lmd_cache_info in = ct_info("tiny-a", "w1", 2);
    lmd_journal *j, *j2;
    uint64_t done;
    /* two texts, a checkpoint, a third text, then a "crash" mid-checkpoint */
    {
        assert_int_equal(lmd_journal_open(jd, &in, LMD_JOURNAL_NEW, &j, &done, &err), 0);
        assert_int_equal(done, 0);
        /* a second writer is refused while the first holds the folder */
        assert_int_equal(lmd_journal_open(jd, &in, LMD_JOURNAL_RESUME, &j2, &done, &err), -1);
        assert_non_null(strstr(err.msg, "another lmdiff process is writing"));
        assert_null(strstr(err.msg, "--force"));
        lmd_scores s = ct_scores(1, 2);
        ct_token(&s, 0, 1, 1, 0.5f, 1.0f, (int32_t[]){1, 2});
        for (int i = 0; i < 2; i++)
            assert_int_equal(lmd_journal_append(j, "x", 1, &s, NULL, 0, &err), 0);
        assert_int_equal(lmd_journal_checkpoint(j, &err), 0);
        assert_int_equal(lmd_journal_append(j, "y", 1, &s, NULL, 0, &err), 0);
        assert_int_equal(lmd_journal_done(j), 3);
        ct_scores_free(&s);
        lmd_journal_close(j);
        leave_tmp(jd, "000000000000002.h5.tmp");
    }
    lmd_cache_info other = ct_info("tiny-a", "w2", 2);
    assert_int_equal(lmd_journal_open(jd, &other, LMD_JOURNAL_RESUME, &j, &done, &err), -1);
    assert_non_null(strstr(err.msg, "weights hash"));
    lmd_cache_info shard = in, prec = in; /* shallow: the strings stay in's */
    shard.shard_k = 2;
    shard.shard_n = 4;
    shard.shard_first = 64;
    assert_int_equal(lmd_journal_open(jd, &shard, LMD_JOURNAL_RESUME, &j, &done, &err), -1);
    assert_non_null(strstr(err.msg, "another shard"));
    prec.precision = "bf16";
    assert_int_equal(lmd_journal_open(jd, &prec, LMD_JOURNAL_RESUME, &j, &done, &err), -1);
    assert_non_null(strstr(err.msg, "another precision"));
    assert_int_equal(lmd_journal_open(jd, &in, LMD_JOURNAL_NEW, &j, &done, &err), -1);
    assert_non_null(strstr(err.msg, "--resume continues it, --force starts over"));

    if (lmd_journal_open(jd, &in, LMD_JOURNAL_RESUME, &j, &done, &err) < 0) fail_msg("%s", err.msg);
    assert_int_equal(done, 2); /* the text after the checkpoint is dropped */
    lmd_scores s = ct_scores(2, 2);
    ct_token(&s, 0, 3, 2, 0.25f, 1.0f, (int32_t[]){1, 2});
    ct_token(&s, 1, 4, 9, 0.01f, 1.0f, (int32_t[]){1, 2});
    lmd_span zsp[2] = {{0, 1}, {1, 1}}; /* the assembly copies a text's token spans */
    assert_int_equal(lmd_journal_append(j, "z", 1, &s, zsp, 2, &err), 0);
    ct_scores_free(&s);
    if (lmd_journal_assemble(j, p, vocab, 5, &err) < 0) fail_msg("%s", err.msg);
    lmd_journal_close(j);
    assert_false(lmd_journal_exists(jd)); /* the folder is gone */
    lmd_cache *c;
    if (lmd_cache_open(p, &c, &err) < 0) fail_msg("%s", err.msg);
    assert_int_equal(lmd_cache_get_info(c)->n_texts, 3);
    assert_int_equal(lmd_cache_get_info(c)->n_vocab, 5);
    lmd_cache_text t;
    assert_int_equal(lmd_cache_read_text(c, 2, LMD_CACHE_PHRASE, &t, &err), 0);
    assert_string_equal(t.phrase, "z");
    assert_int_equal(t.s.rank[1], 9);
    assert_true(t.s.prob[1] == 0.01f);
    lmd_cache_text_free(&t);
    lmd_span *sp;
    size_t nsp;
    assert_int_equal(lmd_cache_read_spans(c, 2, &sp, &nsp, &err), 0);
    assert_int_equal(nsp, 2);
    assert_int_equal(sp[0].start, 0);
    assert_int_equal(sp[0].end, 1);
    assert_int_equal(sp[1].start, 1);
    free(sp);
    assert_int_equal(lmd_cache_read_spans(c, 0, &sp, &nsp, &err), 1); /* written without */
    free(sp);
    lmd_cache_close(c);
    free(p);
    free(jd);
}

/* A journal that cannot be resumed says so and how to start over. */
static void test_journal_damaged(void **st) {
    (void)st;
    char *jd = path_in("dmg.h5.partial");
    lmd_error err;
    lmd_cache_info in = ct_info("tiny-a", "w1", 2);
    lmd_journal *j;
    uint64_t done;
    assert_int_equal(lmd_journal_open(jd, &in, LMD_JOURNAL_NEW, &j, &done, &err), 0);
    lmd_scores s = ct_scores(1, 2);
    ct_token(&s, 0, 1, 1, 0.5f, 1.0f, (int32_t[]){1, 2});
    for (int i = 0; i < 3; i++) {
        assert_int_equal(lmd_journal_append(j, "x", 1, &s, NULL, 0, &err), 0);
        assert_int_equal(lmd_journal_checkpoint(j, &err), 0);
    }
    ct_scores_free(&s);
    lmd_journal_close(j);
    /* a segment cut short (a disk error, not a kill: those leave .tmp) */
    char *seg = lmd_path_join(jd, "000000000000001.h5");
    assert_int_equal(truncate(seg, 100), 0);
    assert_int_equal(lmd_journal_open(jd, &in, LMD_JOURNAL_RESUME, &j, &done, &err), -1);
    assert_non_null(strstr(err.msg, "damaged"));
    assert_non_null(strstr(err.msg, "--force starts over"));
    /* a missing segment */
    assert_int_equal(unlink(seg), 0);
    assert_int_equal(lmd_journal_open(jd, &in, LMD_JOURNAL_RESUME, &j, &done, &err), -1);
    assert_non_null(strstr(err.msg, "from 1 is missing"));
    /* a file lmdiff did not write */
    leave_tmp(jd, "notes.txt");
    assert_int_equal(lmd_journal_open(jd, &in, LMD_JOURNAL_RESUME, &j, &done, &err), -1);
    assert_non_null(strstr(err.msg, "did not write"));
    char *notes = lmd_path_join(jd, "notes.txt");
    unlink(notes);
    free(notes);
    /* --force starts over */
    if (lmd_journal_open(jd, &in, LMD_JOURNAL_RESTART, &j, &done, &err) < 0)
        fail_msg("%s", err.msg);
    assert_int_equal(done, 0);
    assert_int_equal(lmd_journal_discard(j, &err), 0);
    lmd_journal_close(j);
    assert_false(lmd_journal_exists(jd));
    /* an older lmdiff's partial file */
    leave_tmp(dir, "dmg.h5.partial");
    assert_int_equal(lmd_journal_open(jd, &in, LMD_JOURNAL_RESUME, &j, &done, &err), -1);
    assert_non_null(strstr(err.msg, "older lmdiff"));
    free(seg);
    free(jd);
}

static void test_matches(void **st) {
    (void)st;
    char *p = path_in("m.h5");
    write_three(p, "tiny-a", "w1", 3, 1);
    char why[256];
    lmd_cache_info want = ct_info("tiny-a", "w1", 2);
    assert_int_equal(lmd_cache_matches(p, &want, why, sizeof why), 1);
    want.top_k = 3;
    assert_int_equal(lmd_cache_matches(p, &want, why, sizeof why), 0);
    assert_non_null(strstr(why, "top-k"));
    want = ct_info("tiny-a", "w9", 2);
    assert_int_equal(lmd_cache_matches(p, &want, why, sizeof why), 0);
    assert_non_null(strstr(why, "weights"));
    want = ct_info("tiny-a", "w1", 2);
    want.dataset_checksum = (char *)"other";
    assert_int_equal(lmd_cache_matches(p, &want, why, sizeof why), 0);
    assert_non_null(strstr(why, "dataset"));
    char *q = path_in("absent.h5");
    assert_int_equal(lmd_cache_matches(q, &want, why, sizeof why), -1);
    free(q);
    free(p);
}

static void test_bad_files(void **st) {
    (void)st;
    lmd_cache *c;
    lmd_error err;
    /* an HDF5 file of something else */
    char *p = path_in("foreign.h5");
    hid_t f = H5Fcreate(p, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    hsize_t dim = 4;
    hid_t sp = H5Screate_simple(1, &dim, NULL);
    hid_t d = H5Dcreate2(f, "data", H5T_NATIVE_INT, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    H5Dclose(d);
    H5Sclose(sp);
    H5Fclose(f);
    /* without a digest, HDF5 never sees it */
    assert_int_equal(lmd_cache_open(p, &c, &err), -1);
    assert_non_null(strstr(err.msg, "foreign.h5: an HDF5 file without lmdiff's digest"));
    assert_int_equal(err.code, LMD_ERR_UNSUPPORTED);
    free(p);
    /* with one (room for it, then sealed): read, and not a cache */
    p = path_in("foreign-sealed.h5");
    hid_t fcpl = H5Pcreate(H5P_FILE_CREATE);
    H5Pset_userblock(fcpl, LMD_CACHE_USERBLOCK);
    f = H5Fcreate(p, H5F_ACC_TRUNC, fcpl, H5P_DEFAULT);
    H5Pclose(fcpl);
    H5Fclose(f);
    if (lmd_cache_seal(p, &err) < 0) fail_msg("%s", err.msg);
    assert_int_equal(lmd_cache_open(p, &c, &err), -1);
    assert_non_null(strstr(err.msg, "foreign-sealed.h5: not an lmdiff analysis cache (no root"));
    free(p);
    /* not HDF5 at all */
    p = path_in("text.h5");
    FILE *fp = fopen(p, "w");
    fputs("just some text, not HDF5\n", fp);
    fclose(fp);
    assert_int_equal(lmd_cache_open(p, &c, &err), -1);
    assert_non_null(strstr(err.msg, "text.h5: not an lmdiff analysis cache"));
    free(p);
    /* a real cache cut in half */
    char *full = path_in("full.h5");
    write_three(full, "tiny-a", "w1", 3, 1);
    char *data;
    size_t len;
    assert_int_equal(lmd_read_file(full, &data, &len, &err), 0);
    p = path_in("cut.h5");
    fp = fopen(p, "wb");
    fwrite(data, 1, len / 2, fp);
    fclose(fp);
    free(data);
    assert_int_equal(lmd_cache_open(p, &c, &err), -1);
    assert_non_null(strstr(err.msg, "cut.h5: damaged (its digest covers"));
    assert_int_equal(truncate(p, 100), 0); /* inside the header */
    assert_int_equal(lmd_cache_open(p, &c, &err), -1);
    assert_non_null(strstr(err.msg, "cut.h5: damaged (cut short inside its digest header)"));
    /* one byte changed after the userblock: the digest no longer matches */
    assert_int_equal(lmd_read_file(full, &data, &len, &err), 0);
    free(p);
    p = path_in("flip.h5");
    data[len - 100] ^= 1;
    fp = fopen(p, "wb");
    fwrite(data, 1, len, fp);
    fclose(fp);
    free(data);
    assert_int_equal(lmd_cache_open(p, &c, &err), -1);
    assert_non_null(strstr(err.msg, "flip.h5: damaged (its bytes do not match the digest"));
    assert_int_equal(err.code, LMD_ERR_BAD_INPUT);
    /* a file checked once is checked again when it changes */
    assert_int_equal(lmd_cache_open(full, &c, &err), 0);
    lmd_cache_close(c);
    fp = fopen(full, "ab");
    fputc(0, fp);
    fclose(fp);
    assert_int_equal(lmd_cache_open(full, &c, &err), -1);
    assert_non_null(strstr(err.msg, "full.h5: damaged (its digest covers"));
    /* a file remembered as checked (unchanged for 2 s) that changes in
     * place, size and mtime kept: its ctime differs, so it is checked again */
    write_three(full, "tiny-a", "w1", 3, 1);
    struct stat st0;
    assert_int_equal(stat(full, &st0), 0);
    usleep(2200 * 1000);
    assert_int_equal(lmd_cache_open(full, &c, &err), 0); /* hashed, remembered */
    lmd_cache_close(c);
    assert_int_equal(lmd_cache_open(full, &c, &err), 0);
    lmd_cache_close(c);
    int fd = open(full, O_RDWR);
    assert_true(fd >= 0);
    unsigned char byte;
    assert_int_equal(pread(fd, &byte, 1, (off_t)st0.st_size - 50), 1);
    byte ^= 0x10;
    assert_int_equal(pwrite(fd, &byte, 1, (off_t)st0.st_size - 50), 1);
    close(fd);
    struct timespec keep[2] = {st0.st_atim, st0.st_mtim};
    assert_int_equal(utimensat(AT_FDCWD, full, keep, 0), 0);
    assert_int_equal(lmd_cache_open(full, &c, &err), -1);
    assert_non_null(strstr(err.msg, "full.h5: damaged (its bytes do not match"));
    /* damage inside the root group's object header, sealed again (as a
     * broken writer would leave it): HDF5's checksums still say "damaged",
     * not "not an lmdiff analysis cache" */
    free(p);
    write_three(full, "tiny-a", "w1", 3, 1);
    assert_int_equal(lmd_read_file(full, &data, &len, &err), 0);
    p = path_in("hit.h5");
    memcpy(data + LMD_CACHE_USERBLOCK + 120, "\x55\xaa\x13\x37\x00\xff\x42\x42", 8);
    fp = fopen(p, "wb");
    fwrite(data, 1, len, fp);
    fclose(fp);
    free(data);
    if (lmd_cache_seal(p, &err) < 0) fail_msg("%s", err.msg);
    /* in a child that ends with _exit: HDF5 1.10.8 leaks a block of its
     * metadata cache when it reads a damaged object header, which LeakSanitizer
     * would report at this program's exit */
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        int r = lmd_cache_open(p, &c, &err);
        int good =
            r == -1 && strstr(err.msg, "hit.h5: damaged") && !strstr(err.msg, "not an lmdiff");
        if (!good) fprintf(stderr, "damaged cache: rc %d, %s\n", r, err.msg);
        _exit(good ? 0 : 1);
    }
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    /* a FIFO (or a folder) is refused at once, not waited on */
    char *fifo = path_in("fifo.h5");
    assert_int_equal(mkfifo(fifo, 0600), 0);
    assert_int_equal(lmd_cache_open(fifo, &c, &err), -1);
    assert_non_null(strstr(err.msg, "fifo.h5: not a regular file"));
    free(fifo);
    /* missing file */
    char *none = path_in("none.h5");
    assert_int_equal(lmd_cache_open(none, &c, &err), -1);
    assert_non_null(strstr(err.msg, "No such file"));
    free(none);
    free(full);
    free(p);
}

static int run(const char *cmd) {
    int rc = system(cmd);
    return rc == -1 ? -1 : WEXITSTATUS(rc);
}

static int have_h5py(void) {
    return run("/usr/bin/python3 -c 'import h5py, numpy' >/dev/null 2>&1") == 0;
}

/* A cache written by h5py in the original's layout reads as one of ours,
 * without entropy and logprobs. */
static void test_original_cache(void **st) {
    (void)st;
    if (!have_h5py()) {
        printf("SKIP part: /usr/bin/python3 has no h5py (Debian: python3-h5py)\n");
        return;
    }
    char *spec = path_in("spec.json"), *out = path_in("orig.h5");
    FILE *f = fopen(spec, "w");
    fputs("{\"dataset_name\": \"ds\", \"dataset_checksum\": \"abc\", \"vocab_hash\": \"pickle\","
          " \"model_name\": \"lysandre/arxiv\","
          " \"vocabulary\": [\"<|endoftext|>\", \"hello\", \"\\u0120w\\u00f6rld\", \"!\"],"
          " \"texts\": [{\"phrase\": \"hello w\\u00f6rld\", \"token_ids\": [1, 2],"
          "   \"ranks\": [0, 5], \"probs\": [0.5, 0.0],"
          "   \"topk_probs\": [[0.5, 0.2, 0.1], [0.3, 0.2, 0.1]],"
          "   \"topk_token_ids\": [[1, 0, 3], [3, 1, 0]]},"
          "  {\"phrase\": \"!\", \"token_ids\": [3], \"ranks\": [2], \"probs\": [0.25],"
          "   \"topk_probs\": [[0.4, 0.3, 0.25]], \"topk_token_ids\": [[0, 1, 3]]}]}",
          f);
    fclose(f);
    char cmd[1024];
    char *tool = tu_src_path("tools/make_original_cache.py");
    snprintf(cmd, sizeof cmd, "/usr/bin/python3 '%s' '%s' '%s'", tool, spec, out);
    assert_int_equal(run(cmd), 0);
    lmd_cache *c;
    lmd_error err;
    /* no digest: refused, with the way in */
    assert_int_equal(lmd_cache_open(out, &c, &err), -1);
    assert_non_null(strstr(err.msg, "orig.h5: an HDF5 file without lmdiff's digest"));
    assert_non_null(strstr(err.msg, "lmdiff cache import"));
    char *imp = path_in("imported.h5");
    uint64_t n_imp = 0;
    if (lmd_cache_import(out, imp, NULL, &n_imp, &err) < 0) fail_msg("%s", err.msg);
    assert_int_equal(n_imp, 2);
    assert_int_equal(lmd_cache_import(out, imp, NULL, &n_imp, &err), -1); /* exists */
    assert_non_null(strstr(err.msg, "--force"));
    if (lmd_cache_open(imp, &c, &err) < 0) fail_msg("%s", err.msg);
    free(imp);
    const lmd_cache_info *in = lmd_cache_get_info(c);
    assert_int_equal(in->format, 0); /* the original's: its vocab_hash is a pickle's */
    assert_null(in->weights_hash);
    assert_string_equal(in->model_name, "lysandre/arxiv");
    assert_int_equal(in->top_k, 3); /* from the first text's shape */
    assert_int_equal(in->n_texts, 2);
    assert_int_equal(in->complete, 1);
    assert_string_equal(lmd_cache_vocab(c, 2), "\xc4\xa0w\xc3\xb6rld");
    lmd_cache_text t;
    assert_int_equal(lmd_cache_read_text(c, 0, LMD_CACHE_PHRASE, &t, &err), 0);
    assert_string_equal(t.phrase, "hello w\xc3\xb6rld");
    assert_int_equal(t.s.rank[1], 6);
    assert_true(isnan(t.s.entropy[0])); /* the original has none: NaN, written as such */
    assert_true(fabs(t.s.logprob[0] - log(0.5)) < 1e-12);
    assert_true(t.s.logprob[1] == log((double)FLT_TRUE_MIN)); /* prob 0 */
    lmd_cache_text_free(&t);
    lmd_cache_close(c);

    /* and h5py reads ours the way the original did */
    char *ours = path_in("ours.h5");
    write_three(ours, "tiny-a", "w1", 3, 1);
    char *reader = tu_src_path("tools/read_cache_h5py.py");
    char *json = path_in("read.json");
    snprintf(cmd, sizeof cmd, "/usr/bin/python3 '%s' '%s' > '%s'", reader, ours, json);
    assert_int_equal(run(cmd), 0);
    char *data;
    size_t len;
    assert_int_equal(lmd_read_file(json, &data, &len, &err), 0);
    assert_non_null(strstr(data, "\"n_texts\": 3"));
    assert_non_null(strstr(data, "\"vocab_size\": 5"));
    assert_non_null(strstr(data, "\"ranks\": \"uint32\""));
    assert_non_null(strstr(data, "\"token_ids\": \"int64\""));
    assert_non_null(strstr(data, "\"topk_token_ids\": [2, 2]"));
    assert_non_null(strstr(data, "\"ranks\": [0, 3]"));
    assert_non_null(strstr(data, "\"phrase\": \"caf\xc3\xa9!\""));
    free(data);
    free(json);
    free(reader);
    free(ours);
    free(tool);
    free(spec);
    free(out);
}

/* Both read paths (the index and HDF5) give the same texts. */
static void same_text(const lmd_cache_text *a, const lmd_cache_text *b) {
    assert_int_equal(a->s.n, b->s.n);
    assert_int_equal(a->s.k, b->s.k);
    assert_int_equal(a->phrase_len, b->phrase_len);
    if (a->phrase) assert_memory_equal(a->phrase, b->phrase, a->phrase_len);
    size_t n = a->s.n, nk = n * (size_t)a->s.k;
    if (!n) return;
    assert_memory_equal(a->s.ids, b->s.ids, n * sizeof *a->s.ids);
    assert_memory_equal(a->s.rank, b->s.rank, n * sizeof *a->s.rank);
    assert_memory_equal(a->s.prob, b->s.prob, n * sizeof *a->s.prob);
    assert_memory_equal(a->s.logprob, b->s.logprob, n * sizeof *a->s.logprob);
    assert_memory_equal(a->s.entropy, b->s.entropy, n * sizeof *a->s.entropy);
    assert_memory_equal(a->s.topk_ids, b->s.topk_ids, nk * sizeof *a->s.topk_ids);
    assert_memory_equal(a->s.topk_prob, b->s.topk_prob, nk * sizeof *a->s.topk_prob);
}

static void compare_paths(const char *p, uint64_t from, uint64_t to) {
    lmd_cache *fast, *slow;
    lmd_error err;
    unsetenv("LMD_CACHE_NO_INDEX");
    if (lmd_cache_open(p, &fast, &err) < 0) fail_msg("%s", err.msg);
    setenv("LMD_CACHE_NO_INDEX", "1", 1);
    if (lmd_cache_open(p, &slow, &err) < 0) fail_msg("%s", err.msg);
    unsetenv("LMD_CACHE_NO_INDEX");
    for (uint64_t i = from; i < to; i++) {
        lmd_cache_text a, b;
        assert_int_equal(lmd_cache_read_text(fast, i, LMD_CACHE_PHRASE, &a, &err), 0);
        assert_int_equal(lmd_cache_read_text(slow, i, LMD_CACHE_PHRASE, &b, &err), 0);
        same_text(&a, &b);
        lmd_cache_text_free(&a);
        lmd_cache_text_free(&b);
    }
    lmd_cache_close(fast);
    lmd_cache_close(slow);
}

static void test_index(void **st) {
    (void)st;
    char *p = path_in("ix.h5");
    write_three(p, "tiny-a", "w1", 3, 1);
    compare_paths(p, 0, 3);
    /* a dataset rewritten by another tool at another place: the index no
     * longer describes the file and is not used */
    hid_t f = H5Fopen(p, H5F_ACC_RDWR, H5P_DEFAULT);
    assert_true(H5Ldelete(f, "000000000000002/probs", H5P_DEFAULT) >= 0);
    hsize_t dim = 3;
    float pr[3] = {0.9f, 0.8f, 0.7f};
    hid_t sp = H5Screate_simple(1, &dim, NULL);
    hid_t d = H5Dcreate2(f, "000000000000002/probs", H5T_IEEE_F32LE, sp, H5P_DEFAULT, H5P_DEFAULT,
                         H5P_DEFAULT);
    H5Dwrite(d, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, pr);
    H5Dclose(d);
    H5Sclose(sp);
    H5Fclose(f);
    lmd_cache *c;
    lmd_error err;
    assert_int_equal(lmd_cache_open(p, &c, &err), -1); /* edited: the digest says so */
    assert_non_null(strstr(err.msg, "damaged"));
    if (lmd_cache_seal(p, &err) < 0) fail_msg("%s", err.msg); /* a tool that seals again */
    assert_int_equal(lmd_cache_open(p, &c, &err), 0);
    lmd_cache_text t;
    assert_int_equal(lmd_cache_read_text(c, 2, 0, &t, &err), 0);
    assert_true(t.s.prob[0] == 0.9f);
    lmd_cache_text_free(&t);
    lmd_cache_close(c);
    free(p);
}

/* Resuming across a chunk of the index: 8193 texts before the crash. */
static void test_index_resume_chunks(void **st) {
    (void)st;
    char *p = path_in("chunks.h5"), *jd = path_in("chunks.h5.partial");
    lmd_cache_info in = ct_info("tiny-a", "w1", 2);
    lmd_journal *j;
    uint64_t done;
    lmd_error err;
    assert_int_equal(lmd_journal_open(jd, &in, LMD_JOURNAL_NEW, &j, &done, &err), 0);
    lmd_scores s = ct_scores(1, 2);
    char ph[32];
    for (int i = 0; i < 8194; i++) {
        ct_token(&s, 0, i % 5, 1 + i % 7, 0.5f, 1.0f, (int32_t[]){1, 2});
        snprintf(ph, sizeof ph, "text %d", i);
        assert_int_equal(lmd_journal_append(j, ph, strlen(ph), &s, NULL, 0, &err), 0);
        if (i == 8192) assert_int_equal(lmd_journal_checkpoint(j, &err), 0); /* 8193 done */
    }
    lmd_journal_close(j); /* a crash: text 8193 is after the checkpoint */
    if (lmd_journal_open(jd, &in, LMD_JOURNAL_RESUME, &j, &done, &err) < 0) fail_msg("%s", err.msg);
    assert_int_equal(done, 8193);
    for (int i = 8193; i < 8196; i++) {
        ct_token(&s, 0, i % 5, 1 + i % 7, 0.25f, 1.0f, (int32_t[]){1, 2});
        snprintf(ph, sizeof ph, "again %d", i);
        assert_int_equal(lmd_journal_append(j, ph, strlen(ph), &s, NULL, 0, &err), 0);
    }
    if (lmd_journal_assemble(j, p, vocab, 5, &err) < 0) fail_msg("%s", err.msg);
    lmd_journal_close(j);
    free(jd);
    ct_scores_free(&s);
    compare_paths(p, 8185, 8196);
    lmd_cache *c;
    assert_int_equal(lmd_cache_open(p, &c, &err), 0);
    lmd_cache_text t;
    assert_int_equal(lmd_cache_read_text(c, 8193, LMD_CACHE_PHRASE, &t, &err), 0);
    assert_string_equal(t.phrase, "again 8193");
    assert_true(t.s.prob[0] == 0.25f);
    lmd_cache_text_free(&t);
    assert_int_equal(lmd_cache_read_text(c, 8191, LMD_CACHE_PHRASE, &t, &err), 0);
    assert_string_equal(t.phrase, "text 8191");
    lmd_cache_text_free(&t);
    lmd_cache_close(c);
    free(p);
}

int main(void) {
    dir = tu_tmpdir();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_roundtrip),
        cmocka_unit_test(test_on_disk_layout),
        cmocka_unit_test(test_checkpoint_and_resume),
        cmocka_unit_test(test_journal_damaged),
        cmocka_unit_test(test_matches),
        cmocka_unit_test(test_bad_files),
        cmocka_unit_test(test_original_cache),
        cmocka_unit_test(test_index),
        cmocka_unit_test(test_index_resume_chunks),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    char cmd[512];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0 && !rc) rc = 1;
    free(dir);
    return rc;
}
