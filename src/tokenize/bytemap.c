/* bytemap.c - GPT-2's reversible map between the 256 byte values and 256
 * printable code points, plus small UTF-8 / White_Space helpers. */
#include "tokenize/tok_internal.h"

/* Bytes that stand for themselves: '!'..'~', 0xA1..0xAC, 0xAE..0xFF. */
static int lmd_byte_is_printable(unsigned b) {
    return (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE);
}

uint32_t lmd_byte_to_cp(uint8_t b) {
    if (lmd_byte_is_printable(b)) return b;
    /* The others get 256, 257, ... in byte order: 0x00-0x20, 0x7F-0xA0, 0xAD. */
    if (b <= 0x20) return 256u + b;
    if (b >= 0x7F && b <= 0xA0) return 256u + 33u + (b - 0x7Fu);
    return 256u + 67u; /* 0xAD */
}

int lmd_cp_to_byte(uint32_t cp) {
    if (cp < 256) return lmd_byte_is_printable(cp) ? (int)cp : -1;
    if (cp < 256 + 33) return (int)(cp - 256);
    if (cp < 256 + 67) return (int)(0x7F + (cp - 256 - 33));
    if (cp == 256 + 67) return 0xAD;
    return -1;
}

int lmd_byte_to_utf8(uint8_t b, char out[2]) {
    uint32_t cp = lmd_byte_to_cp(b);
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    }
    out[0] = (char)(0xC0 | (cp >> 6));
    out[1] = (char)(0x80 | (cp & 0x3F));
    return 2;
}

int lmd_utf8_decode(const unsigned char *s, size_t avail, uint32_t *cp) {
    int n = lmd_utf8_seq_len(s, avail);
    if (n <= 1) {
        *cp = avail ? s[0] : 0;
        return avail ? 1 : 0;
    }
    uint32_t c = s[0] & (0x7F >> n);
    for (int i = 1; i < n; i++) c = (c << 6) | (s[i] & 0x3F);
    *cp = c;
    return n;
}

int lmd_is_white_space(uint32_t cp) {
    return (cp >= 0x09 && cp <= 0x0D) || cp == 0x20 || cp == 0x85 || cp == 0xA0 ||
           cp == 0x1680 || (cp >= 0x2000 && cp <= 0x200A) || cp == 0x2028 || cp == 0x2029 ||
           cp == 0x202F || cp == 0x205F || cp == 0x3000;
}
