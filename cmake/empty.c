/* empty.c - liblmdiff.so is linked from the objects of the static library;
 * a shared library target needs one source of its own. */
typedef int lmd_empty_translation_unit;
