/* cmd_dataset.c - `lmdiff dataset`: makes a dataset file (the original
 * LMdiff's format: a YAML header with name, type and checksum, then one text
 * per line) from a plain text file, and describes an existing one. */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "analysis/corpus.h"
#include "analysis/diff.h"
#include "args.h"
#include "cli.h"
#include "corpus_cli.h"

static const char *help =
    "usage: lmdiff dataset make IN.txt --name NAME [--type TYPE] [-o OUT] [--force]\n"
    "                           [--no-verify]\n"
    "       lmdiff dataset info FILE [--json] [--no-verify]\n\n"
    "make: writes a dataset file: a YAML header (checksum, name, type, and any other\n"
    "keys IN.txt's own header has) and then IN.txt's texts, one per line.  Blank lines\n"
    "are dropped; white space at the start and end of the file is stripped.\n"
    "  --name NAME   the dataset's name (names the comparison files)\n"
    "  --type TYPE   human_created (default) or machine_generated\n"
    "  -o OUT        the file to write, or a folder for NAME.txt (default: ./NAME.txt)\n"
    "  --force       replace OUT if it exists\n"
    "  --no-verify   accept an IN.txt whose header checksum is wrong\n\n"
    "info: name, type, number of texts and checksum of a dataset (or of a plain text\n"
    "file, read as a dataset without header).  Fails when the header's checksum does\n"
    "not match the texts, unless --no-verify.\n";

static int is_dir(const char *p) {
    struct stat st;
    return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

static int make(int argc, char **argv) {
    const char *name = NULL, *type = NULL, *out = NULL, *force = NULL, *nover = NULL, *hlp = NULL;
    const char *pos[1] = {0};
    cli_opt opts[] = {{"--name", 1, &name},   {"--type", 1, &type},       {"--output", 1, &out},
                      {"--force", 0, &force}, {"--no-verify", 0, &nover}, {"--help", 0, &hlp}};
    int np = cli_parse("dataset make", argc, argv, opts, sizeof opts / sizeof *opts, pos, 1);
    if (np < 0) return 2;
    if (hlp) return fputs(help, stdout), 0;
    if (np != 1) return cli_usage_error("dataset make", "needs the input file IN.txt");
    if (!name || !*name) return cli_usage_error("dataset make", "needs --name NAME");
    if (type && !lmd_dataset_type_valid(type))
        return cli_usage_error("dataset make",
                               "--type must be human_created or machine_generated, not '%s'", type);
    lmd_error err;
    lmd_dataset *ds;
    if (lmd_dataset_load(pos[0], !nover, &ds, &err) < 0) return cli_lib_error(&err);
    free(ds->meta.name);
    ds->meta.name = strdup(name);
    if (type) {
        free(ds->meta.type);
        ds->meta.type = strdup(type);
    }
    /* the output: a file, or NAME.txt in a folder */
    lmd_buf path = {0};
    char *safe = lmd_file_safe_name(name);
    size_t ol = out ? strlen(out) : 0;
    if (!out)
        lmd_buf_printf(&path, "%s.txt", safe);
    else if (is_dir(out) || out[ol - 1] == '/')
        lmd_buf_printf(&path, "%s%s%s.txt", out, out[ol - 1] == '/' ? "" : "/", safe);
    else
        lmd_buf_puts(&path, out);
    free(safe);
    int rc = 0;
    char *parent = strdup(path.data);
    char *slash = strrchr(parent, '/');
    if (slash && slash != parent) {
        *slash = 0;
        if (lmd_mkdirs(parent, &err) < 0) rc = cli_lib_error(&err);
    }
    free(parent);
    if (!rc && !force && lmd_file_exists(path.data))
        rc = cli_error("%s exists (--force replaces it)", path.data);
    if (!rc && lmd_dataset_save(ds, path.data, &err) < 0) rc = cli_lib_error(&err);
    if (!rc) {
        char hex[65];
        lmd_dataset_checksum((const char *const *)ds->texts, ds->lens, ds->n_texts, hex);
        fprintf(stderr, "wrote %s: %zu texts, checksum %s\n", path.data, ds->n_texts, hex);
    }
    lmd_buf_free(&path);
    lmd_dataset_free(ds);
    return rc;
}

static int info(int argc, char **argv) {
    const char *json = NULL, *nover = NULL, *hlp = NULL;
    const char *pos[1] = {0};
    cli_opt opts[] = {{"--json", 0, &json}, {"--no-verify", 0, &nover}, {"--help", 0, &hlp}};
    int np = cli_parse("dataset info", argc, argv, opts, sizeof opts / sizeof *opts, pos, 1);
    if (np < 0) return 2;
    if (hlp) return fputs(help, stdout), 0;
    if (np != 1) return cli_usage_error("dataset info", "needs a dataset FILE");
    lmd_error err;
    lmd_dataset_reader *r;
    if (lmd_dataset_open(pos[0], &r, &err) < 0) return cli_lib_error(&err);
    lmd_dataset_summary s;
    if (lmd_dataset_scan(r, 0, &s, &err) < 0) {
        lmd_dataset_close(r);
        return cli_lib_error(&err);
    }
    const lmd_dataset_meta *m = lmd_dataset_get_meta(r);
    if (json) {
        lmd_buf b = {0};
        lmd_buf_puts(&b, "{\"path\":");
        lmd_json_str(&b, pos[0], strlen(pos[0]));
        lmd_buf_puts(&b, ",\"name\":");
        lmd_json_str(&b, m->name, strlen(m->name));
        lmd_buf_printf(&b,
                       ",\"type\":\"%s\",\"has_header\":%s,\"n_texts\":%llu,\"n_bytes\":%llu,"
                       "\"checksum\":\"%s\",\"declared_checksum\":",
                       m->type, m->has_header ? "true" : "false", (unsigned long long)s.n_texts,
                       (unsigned long long)s.n_bytes, s.checksum);
        if (m->checksum)
            lmd_json_str(&b, m->checksum, strlen(m->checksum));
        else
            lmd_buf_puts(&b, "null");
        lmd_buf_printf(&b, ",\"checksum_ok\":%s,\"extra_keys\":[",
                       !s.declared ? "null"
                       : s.matches ? "true"
                                   : "false");
        for (size_t i = 0; i < m->n_extra; i++) {
            if (i) lmd_buf_put(&b, ",", 1);
            lmd_json_str(&b, m->extra_keys[i], strlen(m->extra_keys[i]));
        }
        lmd_buf_puts(&b, "]}\n");
        fwrite(b.data, 1, b.len, stdout);
        lmd_buf_free(&b);
    } else {
        printf("name       %s\ntype       %s\ntexts      %llu (%llu bytes)\nchecksum   %s", m->name,
               m->type, (unsigned long long)s.n_texts, (unsigned long long)s.n_bytes, s.checksum);
        if (!m->has_header)
            printf("   (no header)\n");
        else if (!s.declared)
            printf("   (the header has none)\n");
        else if (s.matches)
            printf("   (matches the header)\n");
        else
            printf("\n           the header says %s: WRONG\n", m->checksum);
        for (size_t i = 0; i < m->n_extra; i++)
            printf("%-10s %s\n", i ? "" : "other keys", m->extra_keys[i]);
    }
    int rc = 0;
    if (s.declared && !s.matches && !nover)
        rc = cli_error("%s: wrong checksum: the header says %s but the texts hash to %s", pos[0],
                       m->checksum, s.checksum);
    lmd_dataset_close(r);
    return rc;
}

int cmd_dataset(int argc, char **argv) {
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        fputs(help, argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    char **a = corpus_argv(argc - 1, argv + 1);
    if (!a) return cli_error("out of memory");
    int rc;
    if (!strcmp(argv[1], "make"))
        rc = make(argc - 1, a);
    else if (!strcmp(argv[1], "info"))
        rc = info(argc - 1, a);
    else
        rc = cli_usage_error("dataset", "unknown subcommand '%s' (make or info)", argv[1]);
    free(a);
    return rc;
}
