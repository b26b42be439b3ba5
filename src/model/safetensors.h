/* safetensors.h - forwards to model/format/safetensors.h, its home in the layered layout
 * (format/ -> arch/ -> kernel/); kept so that existing includes build. */
#ifndef LMD_FWD_SAFETENSORS_H
#define LMD_FWD_SAFETENSORS_H
#include "model/format/safetensors.h"
#endif
