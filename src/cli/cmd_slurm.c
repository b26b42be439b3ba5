/* cmd_slurm.c - placeholder replaced below */
#include "cli.h"
int cmd_slurm(int argc, char **argv) {
    (void)argc, (void)argv;
    return cli_error("slurm: not built yet");
}
