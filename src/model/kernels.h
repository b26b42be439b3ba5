/* kernels.h - forwards to model/kernel/kernels.h, its home in the layered layout
 * (format/ -> arch/ -> kernel/); kept so that existing includes build. */
#ifndef LMD_FWD_KERNELS_H
#define LMD_FWD_KERNELS_H
#include "model/kernel/kernels.h"
#endif
