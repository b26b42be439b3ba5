/* modelref.h - what a model argument names: a folder, a .gguf file, or a
 * reference to a model store (`ollama:NAME[:TAG]`, the local Ollama store;
 * `hf:ORG/NAME[@REVISION]`, the local Hugging Face hub cache).
 * All resolution of model references lives in modelref.c. */
#ifndef LMD_MODELREF_H
#define LMD_MODELREF_H

#include "base/base.h"

/* The path the reference stands for (malloc'ed) and whether it is a GGUF
 * file (ollama: references, paths ending in .gguf, regular files that start
 * with GGUF's magic).  A plain path is returned as it is. */
int lmd_model_ref_resolve(const char *ref, char **path, int *is_gguf, lmd_error *err);

/* The name a reference gives its model ("ORG/NAME[@REVISION]" for hf:),
 * malloc'ed, or NULL when the model is named after its folder or file. */
char *lmd_model_ref_name(const char *ref);

#endif
