/* Direct int8 convolution for layers with few input channels (see xaigen/emulation/direct.py).
 *
 * oneDNN's int8 convolution vectorizes over input channels, so LeNet's 3 or 6 (times the table's
 * rank R) leave most of each VNNI instruction idle.  This kernel vectorizes over 16 neighbouring
 * output columns instead, which needs no channel count at all (or, where they fill the lanes
 * better, over 16 output channels, each activation word broadcast: channel_block):
 *
 *   quads[p, i, x] = the 4 bytes act[p, i, x .. x + 3] as one uint32 (p = input plane c * R + r of
 *                    the padded activation bytes, i = row, x = column),
 *   acc[o, oh, ow] = sum_{p, kh, g} dot4(quads[p, oh + kh, ow + 4 g], wq[p, kh, g, o])
 *
 * where wq packs the weight bytes w[o, p, kh, 4 g .. 4 g + 3] (zero beyond the kernel width), so
 * one vpdpbusd (u8 x s8, four products summed into int32) serves 16 output columns of one channel
 * and the 16 activation words are ONE contiguous load.  With more planes, "plane words" fill the
 * four bytes of a word with four planes instead of four columns (fewer words where P > KW / ceil(KW / 4)):
 *
 *   words[g, i, x] = the bytes act[4 g .. 4 g + 3, i, x] as one uint32 (0 past the last plane),
 *   acc[o, oh, ow] = sum_{g, kh, kw} dot4(words[g, oh + kh, ow + kw], wq[g, kh, kw, o])
 *
 * The kernel is the same loop for both: word group g is read at column offset step * g (step 4
 * for quads, 1 for plane words).  The activation bytes are u + z (z the
 * zero-point, so they are unsigned); acc - z * sum_k w is the exact accumulator, proven to fit
 * int32 and float32 by the caller.  Stride 1, dilation 1, one group; the caller checks.
 *
 * Output, channels-last float32 [N, OH, OW, O]: out = float(acc - zsum[o]) * scale[o] (+ bias[o]):
 * one IEEE rounding per operation, as the separate torch operations give (no FMA contraction).
 */
#include <stdint.h>
#include <string.h>

#include "codes.h"
#include "parallel.h"
#define XAIGEN_MAX_ROW 4096 /* direct.py's MAX_ROW */
#define XAIGEN_MAX_GROUPS 8 /* direct.py's MAX_WORD_GROUPS */
#if defined(__AVX512VNNI__) && defined(__AVX512BW__)
#include <immintrin.h>
#define XAIGEN_DIRECT 1
#endif

/* bytes[j] = table8[8 idx[j] + r] for j < W. */
static void row_bytes(const int32_t* idx, int64_t W, const uint8_t* table8, int64_t r, uint8_t* bytes)
{
#if defined(__AVX512BW__) && defined(__AVX512VL__)
    for (int64_t j = 0; j < W; j += 16) {
        const __mmask16 m = lanes_mask(W - j);
        const __m512i i = _mm512_maskz_loadu_epi32(m, idx + j);
        const __m512i words = _mm512_mask_i32gather_epi32(_mm512_setzero_si512(), m, i, (const void*)(table8 + r), 8);
        _mm_mask_storeu_epi8(bytes + j, m, _mm512_cvtepi32_epi8(words));
    }
#else
    for (int64_t j = 0; j < W; ++j) bytes[j] = table8[8 * idx[j] + r];
#endif
}

/* dst[j] = bytes[j .. j + 3] as one little-endian word, j < Wq (bytes has Wq + 64 entries).  With
 * AVX-512: 128-bit lane L of a vector gets the dwords L .. L + 3 of the 64 loaded bytes (vpermd),
 * then vpshufb picks bytes (k, k + 1, k + 2, k + 3) for each word k of the lane. */
static void quad_row(const uint8_t* bytes, int64_t Wq, uint32_t* dst)
{
    int64_t j = 0;
#ifdef __AVX512BW__
    const __m512i dwords = _mm512_setr_epi32(0, 1, 2, 3, 1, 2, 3, 4, 2, 3, 4, 5, 3, 4, 5, 6);
    const __m512i pick = _mm512_broadcast_i32x4(_mm_setr_epi8(0, 1, 2, 3, 1, 2, 3, 4, 2, 3, 4, 5, 3, 4, 5, 6));
    for (; j + 16 <= Wq; j += 16) {
        const __m512i v = _mm512_permutexvar_epi32(dwords, _mm512_loadu_si512((const void*)(bytes + j)));
        _mm512_storeu_si512((void*)(dst + j), _mm512_shuffle_epi8(v, pick));
    }
#endif
    for (; j < Wq; ++j) memcpy(dst + j, bytes + j, 4);
}

/* Quads of the images [first, last) of x float32 [N, C, H, W] (element strides sn, sc, sh, sw):
 * quads uint32 [N, C * R, H + 2 top, Wq]; byte x of a padded row is the factor byte r of the code of
 * x[n, c, i - top, x - left], or that of the zero-point code outside the image (also past the padded
 * width).  table8 is uint8[256 * 8 + 8]: the R factor bytes of each code, rows zero-padded to 8. */
void xaigen_quad_planes(const float* x, int64_t first, int64_t last, int64_t C, int64_t H, int64_t W,
                        int64_t sn, int64_t sc, int64_t sh, int64_t sw, int64_t top, int64_t left, int64_t Wq,
                        float scale, float zero, float qmin, float qmax, float vmin, const uint8_t* table8,
                        int64_t R, uint32_t* quads)
{
    const int64_t hp = H + 2 * top;
    const int32_t pad_index = code_index(0.0f, scale, zero, qmin, qmax, vmin);
    uint8_t bytes[XAIGEN_MAX_ROW + 64];
    int32_t idx[XAIGEN_MAX_ROW];
    memset(bytes, 0, sizeof bytes); /* the vector loads read past Wq + 3; those bytes are never used */
    for (int64_t n = first; n < last; ++n)
        for (int64_t c = 0; c < C; ++c) {
            uint32_t* planes = quads + (n * C + c) * R * hp * Wq;
            for (int64_t i = 0; i < hp; ++i) {
                const int inside = i >= top && i < top + H;
                if (inside)
                    row_indices(x + n * sn + c * sc + (i - top) * sh, W, sw, scale, zero, qmin, qmax, vmin, idx);
                for (int64_t r = 0; r < R; ++r) {
                    memset(bytes, table8[8 * pad_index + r], (size_t)(Wq + 3));
                    if (inside) row_bytes(idx, W, table8, r, bytes + left);
                    quad_row(bytes, Wq, planes + (r * hp + i) * Wq);
                }
            }
        }
}

/* Plane words of the images [first, last) of x float32 [N, C, H, W] (element strides sn, sc, sh,
 * sw): words uint32 [N, PG, H + 2 top, Wq], PG = ceil(C R / 4); byte j of word (g, i, x) is the
 * factor byte r of the code of x[n, c, i - top, x - left] for plane 4 g + j = c R + r, the byte of
 * the zero-point code outside the image (also past the padded width), 0 past the last plane.
 * table8 as for xaigen_quad_planes; R <= 8, PG <= XAIGEN_MAX_GROUPS. */
void xaigen_plane_words(const float* x, int64_t first, int64_t last, int64_t C, int64_t H, int64_t W,
                        int64_t sn, int64_t sc, int64_t sh, int64_t sw, int64_t top, int64_t left, int64_t Wq,
                        float scale, float zero, float qmin, float qmax, float vmin, const uint8_t* table8,
                        int64_t R, uint32_t* words)
{
    const int64_t hp = H + 2 * top, P = C * R, PG = (P + 3) / 4;
    if (PG > XAIGEN_MAX_GROUPS || R > 8) return; /* the caller checks */
    const int32_t pad_index = code_index(0.0f, scale, zero, qmin, qmax, vmin);
    uint32_t pad[XAIGEN_MAX_GROUPS] = {0};
    for (int64_t p = 0; p < P; ++p) pad[p / 4] |= (uint32_t)table8[8 * pad_index + p % R] << (8 * (p % 4));
#ifdef __AVX512F__
    const code_params16 cp = code_params(scale, zero, qmin, qmax, vmin);
    const __m512i lanes = strided_lanes(sw), low_byte = _mm512_set1_epi32(0xFF), none = _mm512_setzero_si512();
#endif
    for (int64_t n = first; n < last; ++n)
        for (int64_t i = 0; i < hp; ++i) {
            uint32_t* row = words + (n * PG * hp + i) * Wq; /* group g's row: row + g * hp * Wq */
            for (int64_t g = 0; g < PG; ++g)
                for (int64_t j = 0; j < Wq; ++j) row[g * hp * Wq + j] = pad[g];
            if (i < top || i >= top + H) continue;
            const float* src = x + n * sn + (i - top) * sh;
#ifdef __AVX512F__
            for (int64_t j = 0; j < W; j += 16) {
                const __mmask16 m = lanes_mask(W - j);
                __m512i group[XAIGEN_MAX_GROUPS];
                for (int64_t g = 0; g < PG; ++g) group[g] = none;
                for (int64_t c = 0; c < C; ++c) {
                    /* byte offsets of the codes' table rows; bytes 0-3 and 4-7 of each row */
                    const __m512 v = load16(src + c * sc + j * sw, m, sw, lanes);
                    const __m512i at = _mm512_slli_epi32(code_index16(v, &cp), 3);
                    const __m512i lo = _mm512_mask_i32gather_epi32(none, m, at, (const void*)table8, 1);
                    const __m512i hi = R > 4 ? _mm512_mask_i32gather_epi32(none, m, at, (const void*)(table8 + 4), 1)
                                             : none;
                    for (int64_t r = 0; r < R; ++r) {
                        const int64_t p = c * R + r;
                        const __m512i shift_in = _mm512_set1_epi32((int32_t)(8 * (r % 4)));
                        const __m512i shift_out = _mm512_set1_epi32((int32_t)(8 * (p % 4)));
                        const __m512i b = _mm512_and_si512(_mm512_srlv_epi32(r < 4 ? lo : hi, shift_in), low_byte);
                        group[p / 4] = _mm512_or_si512(group[p / 4], _mm512_sllv_epi32(b, shift_out));
                    }
                }
                for (int64_t g = 0; g < PG; ++g)
                    _mm512_mask_storeu_epi32((void*)(row + g * hp * Wq + left + j), m, group[g]);
            }
#else
            for (int64_t j = 0; j < W; ++j) {
                for (int64_t g = 0; g < PG; ++g) row[g * hp * Wq + left + j] = 0;
                for (int64_t c = 0; c < C; ++c) {
                    const int32_t k = code_index(src[c * sc + j * sw], scale, zero, qmin, qmax, vmin);
                    for (int64_t r = 0; r < R; ++r) {
                        const int64_t p = c * R + r;
                        row[(p / 4) * hp * Wq + left + j] |= (uint32_t)table8[8 * k + r] << (8 * (p % 4));
                    }
                }
            }
#endif
        }
}

int xaigen_direct_available(void)
{
#ifdef XAIGEN_DIRECT
    return 1;
#else
    return 0;
#endif
}

#ifdef XAIGEN_DIRECT
/* One block: 16 output columns [ow0, ow0 + 16) of row oh, output channels [o0, o0 + OC). */
static inline __attribute__((always_inline)) void direct_block(
    const int OC, const uint32_t* quads, int64_t P, int64_t hp, int64_t Wq, int64_t KH, int64_t G, int64_t step,
    const int32_t* wq, int64_t OCP, int64_t o0, int64_t oh, int64_t ow0, int64_t OW, int64_t O,
    const int32_t* zsum, const float* scale, const float* bias, float* out_row)
{
    __m512i acc[16];
    for (int o = 0; o < OC; ++o) acc[o] = _mm512_setzero_si512();
    for (int64_t p = 0; p < P; ++p)
        for (int64_t kh = 0; kh < KH; ++kh) {
            const uint32_t* src = quads + (p * hp + oh + kh) * Wq + ow0;
            const int32_t* w = wq + ((p * KH + kh) * G) * OCP + o0;
            for (int64_t g = 0; g < G; ++g) {
                const __m512i a = _mm512_loadu_si512((const void*)(src + step * g));
                for (int o = 0; o < OC; ++o)
                    acc[o] = _mm512_dpbusd_epi32(acc[o], a, _mm512_set1_epi32(w[g * OCP + o]));
            }
        }
    float block[16][16];
    for (int o = 0; o < OC; ++o) {
        __m512 v = _mm512_cvtepi32_ps(_mm512_sub_epi32(acc[o], _mm512_set1_epi32(zsum[o0 + o])));
        v = _mm512_mul_ps(v, _mm512_set1_ps(scale[o0 + o]));
        if (bias) v = _mm512_add_ps(v, _mm512_set1_ps(bias[o0 + o]));
        _mm512_storeu_ps(block[o], v);
    }
    const int64_t cols = OW - ow0 < 16 ? OW - ow0 : 16;
    for (int64_t j = 0; j < cols; ++j)
        for (int o = 0; o < OC; ++o) out_row[(ow0 + j) * O + o0 + o] = block[o][j];
}

/* One block with output channels in the lanes: NC output columns [ow0, ow0 + NC) of row oh, output
 * channels [o0, o0 + 16) (masked past O).  Each activation word is broadcast to all 16 lanes. */
static inline __attribute__((always_inline)) void channel_block(
    const int NC, const uint32_t* quads, int64_t P, int64_t hp, int64_t Wq, int64_t KH, int64_t G, int64_t step,
    const int32_t* wq, int64_t OCP, int64_t o0, int64_t oh, int64_t ow0, int64_t O,
    const int32_t* zsum, const float* scale, const float* bias, float* out_row)
{
    __m512i acc[16];
    for (int j = 0; j < NC; ++j) acc[j] = _mm512_setzero_si512();
    for (int64_t p = 0; p < P; ++p)
        for (int64_t kh = 0; kh < KH; ++kh) {
            const int32_t* src = (const int32_t*)quads + (p * hp + oh + kh) * Wq + ow0;
            const int32_t* w = wq + ((p * KH + kh) * G) * OCP + o0;
            for (int64_t g = 0; g < G; ++g) {
                const __m512i wv = _mm512_loadu_si512((const void*)(w + g * OCP));
                for (int j = 0; j < NC; ++j)
                    acc[j] = _mm512_dpbusd_epi32(acc[j], _mm512_set1_epi32(src[step * g + j]), wv);
            }
        }
    const __mmask16 m = lanes_mask(O - o0);
    const __m512i z = _mm512_maskz_loadu_epi32(m, zsum + o0);
    const __m512 s = _mm512_maskz_loadu_ps(m, scale + o0);
    const __m512 b = bias ? _mm512_maskz_loadu_ps(m, bias + o0) : _mm512_setzero_ps();
    for (int j = 0; j < NC; ++j) {
        __m512 v = _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_sub_epi32(acc[j], z)), s);
        if (bias) v = _mm512_add_ps(v, b);
        _mm512_mask_storeu_ps(out_row + (ow0 + j) * O + o0, m, v);
    }
}

#define XAIGEN_CHANNEL_CASE(n) case n: channel_block(n, q, P, hp, Wq, KH, G, step, wq, OCP, o0, oh, ow0, O, zsum, scale, bias, row); break;
#define XAIGEN_CASE(n) case n: direct_block(n, q, P, hp, Wq, KH, G, step, wq, OCP, o0, oh, ow0, OW, O, zsum, scale, bias, row); break;
#endif

/* Outputs of the images [first, last): quads (P = C * R planes, G = ceil(KW / 4) word groups,
 * step 4) or plane words (P = ceil(C * R / 4) planes of words, G = KW, step 1) as above, each plane
 * hp rows of Wq words; wq int32 [P, KH, G, OCP] (OCP >= O, a multiple of 16), out float32
 * [N, OH, OW, O].  by_channel puts 16 output channels in the lanes (each activation word
 * broadcast) instead of 16 columns: fewer instructions where O fills the lanes better than OW
 * does, and no transposed store. */
void xaigen_direct_conv(const uint32_t* quads, int64_t first, int64_t last, int64_t P, int64_t hp, int64_t Wq,
                        int64_t KH, int64_t G, int64_t step, const int32_t* wq, int64_t OCP, int64_t O, int64_t OH,
                        int64_t OW, const int32_t* zsum, const float* scale, const float* bias, int by_channel,
                        float* out)
{
#ifdef XAIGEN_DIRECT
    for (int64_t n = first; n < last; ++n) {
        const uint32_t* q = quads + n * P * hp * Wq;
        for (int64_t oh = 0; oh < OH; ++oh) {
            float* row = out + (n * OH + oh) * OW * O;
            for (int64_t o0 = 0; o0 < O; o0 += 16) {
                if (by_channel) {
                    for (int64_t ow0 = 0; ow0 < OW; ow0 += 16) {
                        switch (OW - ow0 < 16 ? (int)(OW - ow0) : 16) {
                            XAIGEN_CHANNEL_CASE(1) XAIGEN_CHANNEL_CASE(2) XAIGEN_CHANNEL_CASE(3) XAIGEN_CHANNEL_CASE(4)
                            XAIGEN_CHANNEL_CASE(5) XAIGEN_CHANNEL_CASE(6) XAIGEN_CHANNEL_CASE(7) XAIGEN_CHANNEL_CASE(8)
                            XAIGEN_CHANNEL_CASE(9) XAIGEN_CHANNEL_CASE(10) XAIGEN_CHANNEL_CASE(11)
                            XAIGEN_CHANNEL_CASE(12) XAIGEN_CHANNEL_CASE(13) XAIGEN_CHANNEL_CASE(14)
                            XAIGEN_CHANNEL_CASE(15) XAIGEN_CHANNEL_CASE(16)
                        }
                    }
                    continue;
                }
                const int oc = O - o0 < 16 ? (int)(O - o0) : 16;
                for (int64_t ow0 = 0; ow0 < OW; ow0 += 16) {
                    switch (oc) {
                        XAIGEN_CASE(1) XAIGEN_CASE(2) XAIGEN_CASE(3) XAIGEN_CASE(4) XAIGEN_CASE(5) XAIGEN_CASE(6)
                        XAIGEN_CASE(7) XAIGEN_CASE(8) XAIGEN_CASE(9) XAIGEN_CASE(10) XAIGEN_CASE(11)
                        XAIGEN_CASE(12) XAIGEN_CASE(13) XAIGEN_CASE(14) XAIGEN_CASE(15) XAIGEN_CASE(16)
                    }
                }
            }
        }
    }
#else
    (void)quads; (void)first; (void)last; (void)P; (void)hp; (void)Wq; (void)KH; (void)G; (void)step; (void)wq; (void)OCP;
    (void)O; (void)OH; (void)OW; (void)zsum; (void)scale; (void)bias; (void)by_channel; (void)out;
#endif
}

/* NAME_all: NAME (xaigen_quad_planes or xaigen_plane_words) over all images [0, count), on `threads`
 * OpenMP threads (parallel.h); the two take the same arguments. */
#define XAIGEN_WORDS_ALL(NAME)                                                                                   \
    void NAME##_all(const float* x, int64_t count, int64_t threads, int64_t C, int64_t H, int64_t W, int64_t sn,  \
                    int64_t sc, int64_t sh, int64_t sw, int64_t top, int64_t left, int64_t Wq, float scale,        \
                    float zero, float qmin, float qmax, float vmin, const uint8_t* table8, int64_t R,              \
                    uint32_t* words)                                                                             \
    {                                                                                                            \
        XAIGEN_RANGES(count, NAME(x, first, last, C, H, W, sn, sc, sh, sw, top, left, Wq, scale, zero, qmin, qmax, \
                                  vmin, table8, R, words));                                                      \
    }
XAIGEN_WORDS_ALL(xaigen_quad_planes)
XAIGEN_WORDS_ALL(xaigen_plane_words)

/* xaigen_direct_conv over all images [0, count), on `threads` OpenMP threads (parallel.h). */
void xaigen_direct_conv_all(const uint32_t* quads, int64_t count, int64_t threads, int64_t P, int64_t hp, int64_t Wq,
                            int64_t KH, int64_t G, int64_t step, const int32_t* wq, int64_t OCP, int64_t O, int64_t OH,
                            int64_t OW, const int32_t* zsum, const float* scale, const float* bias, int by_channel,
                            float* out)
{
    XAIGEN_RANGES(count, xaigen_direct_conv(quads, first, last, P, hp, Wq, KH, G, step, wq, OCP, O, OH, OW, zsum, scale,
                                            bias, by_channel, out));
}
