/* test_quant.c - every ggml block type lmdiff reads, dequantized from blocks
 * built by hand, against values worked out by hand from the block layouts
 * (ggml-common.h) and the dequantization formulas (ggml-quants.c); the
 * arithmetic is in the comments.  F16 scales used: 0x3C00 = 1, 0x3800 =
 * 0.5, 0x4000 = 2. */
#include <string.h>

#include "model/kernel/quant.h"
#include "testutil.h"

static void put16(uint8_t *p, uint16_t v) {
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}

static void check(const float *y, int i, float want) {
    if (y[i] != want) fail_msg("element %d: %g, wanted %g", i, (double)y[i], (double)want);
}

static void test_sizes(void **state) {
    (void)state;
    const struct {
        lmd_dtype dt;
        int blck;
        size_t bytes;
    } want[] = {{LMD_Q8_0, 32, 34},   {LMD_Q4_0, 32, 18},   {LMD_Q4_1, 32, 20},
                {LMD_Q5_0, 32, 22},   {LMD_Q5_1, 32, 24},   {LMD_Q2_K, 256, 84},
                {LMD_Q3_K, 256, 110}, {LMD_Q4_K, 256, 144}, {LMD_Q5_K, 256, 176},
                {LMD_Q6_K, 256, 210}, {LMD_IQ4_NL, 32, 18}, {LMD_BF16, 1, 2}};
    for (size_t i = 0; i < sizeof want / sizeof *want; i++) {
        assert_int_equal(lmd_dtype_block(want[i].dt), want[i].blck);
        assert_int_equal(lmd_dtype_block_bytes(want[i].dt), want[i].bytes);
    }
    assert_int_equal(lmd_dtype_row_bytes(LMD_Q4_K, 4096), 16 * 144);
    assert_string_equal(lmd_dtype_name(LMD_IQ4_NL), "IQ4_NL");
}

static void test_q8_0(void **state) {
    (void)state;
    uint8_t b[2 * 34];
    float y[64];
    put16(b, 0x3800); /* d = 0.5, q_j = j - 16: y_j = (j - 16) / 2 */
    for (int j = 0; j < 32; j++)
        b[2 + j] = (uint8_t)(int8_t)(j - 16);
    put16(b + 34, 0x4000); /* second block: d = 2, q = -128 and 127 */
    memset(b + 36, 0x80, 16);
    memset(b + 52, 0x7F, 16);
    lmd_dequant(LMD_Q8_0, b, y, 64);
    check(y, 0, -8.0f);
    check(y, 16, 0.0f);
    check(y, 31, 7.5f);
    check(y, 32, -256.0f);
    check(y, 63, 254.0f);
}

static void test_q4_0_q4_1(void **state) {
    (void)state;
    uint8_t b[20];
    float y[32];
    /* Q4_0, d = 2; qs[j] = j | (15 - j) << 4: y_j = 2 (j - 8), y_{j+16} = 2 (7 - j) */
    put16(b, 0x4000);
    for (int j = 0; j < 16; j++)
        b[2 + j] = (uint8_t)(j | (15 - j) << 4);
    lmd_dequant(LMD_Q4_0, b, y, 32);
    check(y, 0, -16.0f);
    check(y, 15, 14.0f);
    check(y, 16, 14.0f);
    check(y, 31, -16.0f);
    /* Q4_1, d = 0.5, m = 1; same nibbles: y_j = j/2 + 1, y_{j+16} = (15 - j)/2 + 1 */
    put16(b, 0x3800);
    put16(b + 2, 0x3C00);
    for (int j = 0; j < 16; j++)
        b[4 + j] = (uint8_t)(j | (15 - j) << 4);
    lmd_dequant(LMD_Q4_1, b, y, 32);
    check(y, 0, 1.0f);
    check(y, 15, 8.5f);
    check(y, 16, 8.5f);
    check(y, 31, 1.0f);
}

static void test_q5_0_q5_1(void **state) {
    (void)state;
    uint8_t b[24];
    float y[32];
    /* Q5_0, d = 1, qh = 0xFFFF0000 (fifth bit set for elements 16..31),
     * qs[j] = j | j << 4: y_j = j - 16, y_{j+16} = (j + 16) - 16 = j */
    put16(b, 0x3C00);
    b[2] = 0, b[3] = 0, b[4] = 0xFF, b[5] = 0xFF;
    for (int j = 0; j < 16; j++)
        b[6 + j] = (uint8_t)(j | j << 4);
    lmd_dequant(LMD_Q5_0, b, y, 32);
    check(y, 0, -16.0f);
    check(y, 15, -1.0f);
    check(y, 16, 0.0f);
    check(y, 31, 15.0f);
    /* Q5_1, d = 1, m = 0.5, qh = 0x0000FFFF: y_j = j + 16 + 0.5, y_{j+16} = j + 0.5 */
    put16(b, 0x3C00);
    put16(b + 2, 0x3800);
    b[4] = 0xFF, b[5] = 0xFF, b[6] = 0, b[7] = 0;
    for (int j = 0; j < 16; j++)
        b[8 + j] = (uint8_t)(j | j << 4);
    lmd_dequant(LMD_Q5_1, b, y, 32);
    check(y, 0, 16.5f);
    check(y, 15, 31.5f);
    check(y, 16, 0.5f);
    check(y, 31, 15.5f);
}

static void test_iq4_nl(void **state) {
    (void)state;
    uint8_t b[18];
    float y[32];
    /* d = 0.5, qs[j] = j | (15 - j) << 4: y_j = kvalues[j] / 2,
     * y_{j+16} = kvalues[15 - j] / 2; kvalues = -127 -104 ... 89 113 */
    put16(b, 0x3800);
    for (int j = 0; j < 16; j++)
        b[2 + j] = (uint8_t)(j | (15 - j) << 4);
    lmd_dequant(LMD_IQ4_NL, b, y, 32);
    check(y, 0, -63.5f);
    check(y, 8, 0.5f);
    check(y, 15, 56.5f);
    check(y, 16, 56.5f);
    check(y, 24, -5.0f); /* kvalues[7] = -10 */
}

/* In Q2_K and Q3_K, element e of a block has 2-bit quant
 * (qs[32 (e/128) + 16 ((e%32)/16) + e%16] >> 2 ((e%128)/32)) & 3 and
 * sub-block (scale) e/16.  With every qs byte 0xE4 = 11 10 01 00, the quant
 * is g = (e%128)/32. */
static void test_q2_k(void **state) {
    (void)state;
    uint8_t b[84];
    float y[256];
    /* scales[s] = (s%4 + 1) | (s/4) << 4; d = 1 (offset 80), dmin = 0.5 (82):
     * y_e = (s%4 + 1) g - 0.5 (s/4), s = e/16 */
    for (int s = 0; s < 16; s++)
        b[s] = (uint8_t)((s % 4 + 1) | (s / 4) << 4);
    memset(b + 16, 0xE4, 64);
    put16(b + 80, 0x3C00);
    put16(b + 82, 0x3800);
    lmd_dequant(LMD_Q2_K, b, y, 256);
    check(y, 0, 0.0f);    /* s 0, g 0 */
    check(y, 40, 3.0f);   /* s 2: scale 3, g 1 */
    check(y, 100, 8.5f);  /* s 6: scale 3, min 1 -> 9 - 0.5 */
    check(y, 130, -1.0f); /* s 8: scale 1, min 2, g 0 -> -1 */
    check(y, 255, 10.5f); /* s 15: scale 4, min 3, g 3 -> 12 - 1.5 */
}

static void test_q3_k(void **state) {
    (void)state;
    uint8_t b[110];
    float y[256];
    /* hmask bit (e%128)/32 + 4 (e/128) of byte e%32 set: no -4.  hmask 0x0F:
     * set for e < 128 only.  qs 0xE4: quant g.  Scales: 6-bit values v_s =
     * 33 (scale v - 32 = 1): low nibbles 1 in bytes 0..7 (both halves),
     * high 2 bits = 2 in every field of bytes 8..11 (0xAA).  d = 0.5:
     * y_e = 0.5 (g - (e >= 128 ? 4 : 0)) */
    memset(b, 0x0F, 32);
    memset(b + 32, 0xE4, 64);
    memset(b + 96, 0x11, 8);
    memset(b + 104, 0xAA, 4);
    put16(b + 108, 0x3800);
    lmd_dequant(LMD_Q3_K, b, y, 256);
    check(y, 0, 0.0f);
    check(y, 32, 0.5f);
    check(y, 127, 1.5f);
    check(y, 128, -2.0f);
    check(y, 255, -0.5f);
    /* now v_5 = 0b11 0111 = 55 (scale 23): low nibble of byte 5 = 7, bits
     * 2..3 of byte 8 + 5%4 = 9 = 3; elements 80..95 (s 5, g 2, e < 128):
     * 0.5 * 23 * 2 = 23 */
    b[96 + 5] = 0x17;
    b[104 + 1] = (uint8_t)((0xAA & ~0x0C) | 3 << 2);
    lmd_dequant(LMD_Q3_K, b, y, 256);
    check(y, 80, 23.0f);
    check(y, 79, 1.0f); /* s 4 unchanged: 0.5 * 1 * 2 */
}

/* Q4_K/Q5_K scales: sub-block j < 4: scale q[j] & 63, min q[j+4] & 63;
 * j >= 4: scale (q[j+4] & 15) | (q[j-4] >> 6) << 4, min (q[j+4] >> 4) |
 * (q[j] >> 6) << 4.  With q = 1 2 3 4, 0 0 0 0, 0x15 0x26 0x37 0x48:
 * scales 1..8, mins 0 0 0 0 1 2 3 4.  Sub-block e/32; sub-blocks 2c, 2c+1
 * take the low and high nibbles of qs[32c .. 32c+31]. */
static const uint8_t kscales[12] = {1, 2, 3, 4, 0, 0, 0, 0, 0x15, 0x26, 0x37, 0x48};

static void test_q4_k(void **state) {
    (void)state;
    uint8_t b[144];
    float y[256];
    /* d = 1, dmin = 0.5, qs 0x21 (low nibble 1, high 2):
     * y_e = scale_j * (j even ? 1 : 2) - 0.5 min_j, j = e/32 */
    put16(b, 0x3C00);
    put16(b + 2, 0x3800);
    memcpy(b + 4, kscales, 12);
    memset(b + 16, 0x21, 128);
    lmd_dequant(LMD_Q4_K, b, y, 256);
    check(y, 0, 1.0f);
    check(y, 32, 4.0f);
    check(y, 64, 3.0f);
    check(y, 96, 8.0f);
    check(y, 128, 4.5f);  /* 5 - 0.5 */
    check(y, 160, 11.0f); /* 12 - 1 */
    check(y, 192, 5.5f);  /* 7 - 1.5 */
    check(y, 255, 14.0f); /* 16 - 2 */
    /* the top bits of q[0] are the fifth and sixth bits of scale 4: 5 + 16 */
    b[4] |= 0x40;
    lmd_dequant(LMD_Q4_K, b, y, 256);
    check(y, 0, 1.0f);
    check(y, 128, 20.5f);
}

static void test_q5_k(void **state) {
    (void)state;
    uint8_t b[176];
    float y[256];
    /* as Q4_K, plus qh (offset 16): bit 2c of qh[e%32] adds 16 to the low
     * nibble of chunk c, bit 2c+1 to the high one.  qh = 0x01 | 0x80:
     * +16 for sub-blocks 0 and 7 */
    put16(b, 0x3C00);
    put16(b + 2, 0x3800);
    memcpy(b + 4, kscales, 12);
    memset(b + 16, 0x81, 32);
    memset(b + 48, 0x21, 128);
    lmd_dequant(LMD_Q5_K, b, y, 256);
    check(y, 0, 17.0f);    /* 1 * (1 + 16) */
    check(y, 32, 4.0f);    /* 2 * 2 */
    check(y, 128, 4.5f);   /* 5 * 1 - 0.5 */
    check(y, 255, 142.0f); /* 8 * (2 + 16) - 0.5 * 4 */
}

static void test_q6_k(void **state) {
    (void)state;
    uint8_t b[210];
    float y[256];
    /* ql (0..127), qh (128..191), scales int8 (192..207), d (208).  In half
     * n (128 elements) quarter k = (e%128)/32, l = e%32: the low 4 bits are
     * the low (k 0, 1) or high (k 2, 3) nibble of ql[64n + l + 32 (k%2)], the
     * top 2 bits are qh[32n + l] >> 2k, minus 32; scale 8n + l/16 + 2k.
     * ql 0x21, qh 0xE4: k 0: 1 - 32 = -31; k 1: 1 + 16 - 32 = -15;
     * k 2: 2 + 32 - 32 = 2; k 3: 2 + 48 - 32 = 18.  scales s - 8, d = 0.5. */
    memset(b, 0x21, 128);
    memset(b + 128, 0xE4, 64);
    for (int s = 0; s < 16; s++)
        b[192 + s] = (uint8_t)(int8_t)(s - 8);
    put16(b + 208, 0x3800);
    lmd_dequant(LMD_Q6_K, b, y, 256);
    check(y, 0, 124.0f);  /* 0.5 * -8 * -31 */
    check(y, 32, 45.0f);  /* scale 2: 0.5 * -6 * -15 */
    check(y, 80, -3.0f);  /* l 16, k 2: scale 5: 0.5 * -3 * 2 */
    check(y, 255, 63.0f); /* n 1, k 3, l 31: scale 15: 0.5 * 7 * 18 */
}

static void test_perm_row(void **state) {
    (void)state;
    /* head size 4: HF rows 0 1 2 3 are stored as rows 0 2 1 3 (convert's
     * reshape(heads, 2, D/2).swapaxes(1, 2)); the next head likewise */
    const size_t want[8] = {0, 2, 1, 3, 4, 6, 5, 7};
    for (size_t r = 0; r < 8; r++)
        assert_int_equal(lmd_perm_row(4, 8, r), want[r]);
    assert_int_equal(lmd_perm_row(0, 8, 5), 5);
    /* GPT-NeoX qkv, 2 heads of 2: HF rows q0 q0 k0 k0 v0 v0 q1 q1 k1 k1 v1 v1
     * are stored as q0 q0 q1 q1 k0 k0 k1 k1 v0 v0 v1 v1 */
    const size_t neox[12] = {0, 1, 4, 5, 8, 9, 2, 3, 6, 7, 10, 11};
    for (size_t r = 0; r < 12; r++)
        assert_int_equal(lmd_perm_row(-2, 12, r), neox[r]);
    /* a whole Q8_0 tensor, 4 rows of 32, head size 4: row r holds r + 1 */
    uint8_t b[4 * 34];
    for (int r = 0; r < 4; r++) {
        put16(b + 34 * r, 0x3C00);
        memset(b + 34 * r + 2, r + 1, 32);
    }
    lmd_tensor t = {.dtype = LMD_Q8_0,
                    .ndim = 2,
                    .shape = {4, 32},
                    .numel = 128,
                    .data = b,
                    .nbytes = sizeof b,
                    .perm_head = 4};
    float y[128];
    lmd_tensor_to_f32(&t, y);
    check(y, 0, 1.0f);
    check(y, 32, 3.0f);
    check(y, 64, 2.0f);
    check(y, 127, 4.0f);
}

static void test_f16_and_quantizers(void **state) {
    (void)state;
    /* every finite F16 value goes to F32 and back unchanged */
    for (uint32_t h = 0; h < 65536; h++) {
        if ((h & 0x7C00) == 0x7C00 && (h & 0x3FF)) continue; /* NaN */
        float f;
        uint16_t hh = (uint16_t)h;
        lmd_dequant(LMD_F16, &hh, &f, 1);
        if (lmd_f32_to_f16(f) != h)
            fail_msg("f16 0x%04x -> %g -> 0x%04x", h, (double)f, lmd_f32_to_f16(f));
    }
    /* ties to even: 1 + 2^-11 is halfway between 1 and 1 + 2^-10 */
    assert_int_equal(lmd_f32_to_f16(1.0f + 0x1p-11f), 0x3C00);
    assert_int_equal(lmd_f32_to_f16(1.0f + 3 * 0x1p-11f), 0x3C02);
    assert_int_equal(lmd_f32_to_f16(65520.0f), 0x7C00);
    assert_int_equal(lmd_f32_to_f16(-0x1p-25f), 0x8000);
    /* Q8_0: integers with max |x| 127 have d = 1 and come back exactly */
    float x[32], y[32];
    uint8_t b[34];
    for (int j = 0; j < 32; j++)
        x[j] = (float)(j * 8 - 127);
    x[31] = 127;
    lmd_quant_q8_0(x, b, 1);
    lmd_dequant(LMD_Q8_0, b, y, 32);
    for (int j = 0; j < 32; j++)
        check(y, j, x[j]);
    /* Q4_0: x = j - 16: the largest magnitude is -16, d = -16 / -8 = 2,
     * q = (int)(x / 2 + 8.5) capped at 15: -16 -> 0 -> -16; -15 -> 1 -> -14;
     * 15 -> 16 -> 15 -> 14 */
    for (int j = 0; j < 32; j++)
        x[j] = (float)(j - 16);
    lmd_quant_q4_0(x, b, 1);
    lmd_dequant(LMD_Q4_0, b, y, 32);
    check(y, 0, -16.0f);
    check(y, 1, -14.0f);
    check(y, 16, 0.0f);
    check(y, 31, 14.0f);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sizes),     cmocka_unit_test(test_q8_0),
        cmocka_unit_test(test_q4_0_q4_1), cmocka_unit_test(test_q5_0_q5_1),
        cmocka_unit_test(test_iq4_nl),    cmocka_unit_test(test_q2_k),
        cmocka_unit_test(test_q3_k),      cmocka_unit_test(test_q4_k),
        cmocka_unit_test(test_q5_k),      cmocka_unit_test(test_q6_k),
        cmocka_unit_test(test_perm_row),  cmocka_unit_test(test_f16_and_quantizers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
