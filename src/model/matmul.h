/* matmul.h - forwards to model/kernel/matmul.h, its home in the layered layout
 * (format/ -> arch/ -> kernel/); kept so that existing includes build. */
#ifndef LMD_FWD_MATMUL_H
#define LMD_FWD_MATMUL_H
#include "model/kernel/matmul.h"
#endif
