/* args.c - see args.h. */
#include "args.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

int cli_parse(const char *cmd, int argc, char **argv, const cli_opt *opts, int n_opts,
              const char **pos, int max_pos) {
    int np = 0, only_pos = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!only_pos && !strcmp(a, "--")) {
            only_pos = 1;
            continue;
        }
        if (!only_pos && a[0] == '-' && a[1] == '-') {
            const char *eq = strchr(a, '=');
            size_t nl = eq ? (size_t)(eq - a) : strlen(a);
            int found = -1;
            for (int o = 0; o < n_opts; o++)
                if (strlen(opts[o].name) == nl && !strncmp(opts[o].name, a, nl)) found = o;
            if (found < 0) {
                cli_usage_error(cmd, "unknown option '%.*s'", (int)nl, a);
                return -1;
            }
            if (opts[found].takes_value) {
                if (eq) *opts[found].value = eq + 1;
                else if (i + 1 < argc) *opts[found].value = argv[++i];
                else {
                    cli_usage_error(cmd, "option %s needs a value", opts[found].name);
                    return -1;
                }
            } else {
                if (eq) {
                    cli_usage_error(cmd, "option %s takes no value", opts[found].name);
                    return -1;
                }
                *opts[found].value = "1";
            }
            continue;
        }
        if (np >= max_pos) {
            cli_usage_error(cmd, "unexpected argument '%s'", a);
            return -1;
        }
        pos[np++] = a;
    }
    return np;
}

int cli_int(const char *cmd, const char *opt, const char *s, long lo, long hi, long *out) {
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi) {
        cli_usage_error(cmd, "%s must be an integer in [%ld, %ld], not '%s'", opt, lo, hi, s);
        return -1;
    }
    *out = v;
    return 0;
}
