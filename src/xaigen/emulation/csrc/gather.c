/* Table-gather kernel for high-rank product tables (see xaigen/emulation/gather.py).
 *
 * out[o, p] = sum_k T[cols[k, p], w[o, k]] over a block of positions: cols uint8[K, LL] (activation
 * indices of the block: the im2col of one or more images side by side, so that every weight's table
 * column, once in registers, serves at least MIN_POSITIONS positions), w uint8[O, K] (weight
 * indices), out int32[N, O, L].  Exact in int32 (the caller checks the bound).
 *
 * With AVX-512BW the table column T[:, w] of one weight (256 int16 = 8 zmm registers) stays in
 * registers while 32 activation codes at a time are looked up with vpermt2w (6 index bits) and
 * two blends (bits 6 and 7).  Tables that do not fit int16 are stored minus 32768 (offset16) and
 * the offset is added back once per product at the end.  Without AVX-512BW: a scalar loop over the
 * int32 table, four weights per pass (tile32).
 */
#include <stdint.h>
#include <string.h>

#include "codes.h"
#include "parallel.h"

#define TILE 512

#ifdef __AVX512BW__
/* The table values of 32 activation codes (uint8), widened to int32: lo for codes 0-15, hi for 16-31. */
static inline void lookup32_wide(const __m512i t[8], __m256i codes, __m512i* lo, __m512i* hi)
{
    const __m512i v = lookup32(t, _mm512_cvtepu8_epi16(codes));
    *lo = _mm512_cvtepi16_epi32(_mm512_castsi512_si256(v));
    *hi = _mm512_cvtepi16_epi32(_mm512_extracti64x4_epi64(v, 1));
}

/* acc[p] += t[a[p]] for p < n (1 <= n < 32): tile16's step with masked loads and stores. */
static inline void tail16(const __m512i t[8], const uint8_t* a, int n, int32_t* acc)
{
    const __mmask64 m = ((__mmask64)1 << n) - 1;
    const __mmask16 m_lo = (__mmask16)(m & 0xFFFF), m_hi = (__mmask16)((m >> 16) & 0xFFFF);
    __m512i lo, hi;
    lookup32_wide(t, _mm512_castsi512_si256(_mm512_maskz_loadu_epi8(m, a)), &lo, &hi);
    _mm512_mask_storeu_epi32((void*)acc, m_lo, _mm512_add_epi32(_mm512_maskz_loadu_epi32(m_lo, acc), lo));
    _mm512_mask_storeu_epi32((void*)(acc + 16), m_hi, _mm512_add_epi32(_mm512_maskz_loadu_epi32(m_hi, acc + 16), hi));
}

static void tile16(const uint8_t* cols, int64_t K, int64_t ld, int64_t start, int len, const uint8_t* wo,
                   const int16_t* table16, int32_t* acc)
{
    memset(acc, 0, TILE * sizeof(int32_t));
    for (int64_t k = 0; k < K; ++k) {
        const int16_t* col = table16 + 256 * (int64_t)wo[k];
        __m512i t[8];
        for (int i = 0; i < 8; ++i) t[i] = _mm512_loadu_si512((const void*)(col + 32 * i));
        const uint8_t* a = cols + k * ld + start;
        int p = 0;
        for (; p + 32 <= len; p += 32) {
            __m512i lo, hi;
            lookup32_wide(t, _mm256_loadu_si256((const __m256i*)(a + p)), &lo, &hi);
            _mm512_storeu_si512((void*)(acc + p), _mm512_add_epi32(_mm512_loadu_si512((void*)(acc + p)), lo));
            _mm512_storeu_si512((void*)(acc + p + 16), _mm512_add_epi32(_mm512_loadu_si512((void*)(acc + p + 16)), hi));
        }
        if (p < len) /* the last 1-31 positions as one masked step: a scalar tail cost LeNet-5's blocks ~15% */
            tail16(t, a + p, len - p, acc + p);
    }
}
#endif

/* Four weights at a time: one load and store of acc[p] per four products, not per product (on an
 * AMD EPYC with AVX2, 0.6 instead of 0.9 ns per product; explicit AVX2 gathers were slower). */
static void tile32(const uint8_t* cols, int64_t K, int64_t ld, int64_t start, int len, const uint8_t* wo,
                   const int32_t* table32, int32_t* acc)
{
    memset(acc, 0, TILE * sizeof(int32_t));
    int64_t k = 0;
    for (; k + 4 <= K; k += 4) {
        const int32_t *c0 = table32 + 256 * (int64_t)wo[k], *c1 = table32 + 256 * (int64_t)wo[k + 1];
        const int32_t *c2 = table32 + 256 * (int64_t)wo[k + 2], *c3 = table32 + 256 * (int64_t)wo[k + 3];
        const uint8_t *a0 = cols + k * ld + start, *a1 = a0 + ld, *a2 = a1 + ld, *a3 = a2 + ld;
        for (int p = 0; p < len; ++p) acc[p] += c0[a0[p]] + c1[a1[p]] + c2[a2[p]] + c3[a3[p]];
    }
    for (; k < K; ++k) {
        const int32_t* col = table32 + 256 * (int64_t)wo[k];
        const uint8_t* a = cols + k * ld + start;
        for (int p = 0; p < len; ++p) acc[p] += col[a[p]];
    }
}

int xaigen_gather_has_avx512bw(void)
{
#ifdef __AVX512BW__
    return 1;
#else
    return 0;
#endif
}

/* sums[p] = sum_k cols[k, start + p]: the fan-in sum of the activation indices at each position. */
static void index_sums(const uint8_t* cols, int64_t K, int64_t ld, int64_t start, int len, int32_t* sums)
{
    for (int p = 0; p < len; ++p) sums[p] = 0;
    for (int64_t k = 0; k < K; ++k) {
        const uint8_t* a = cols + k * ld + start;
        for (int p = 0; p < len; ++p) sums[p] += a[p];
    }
}

/* Tile positions [start, start + len) of a block whose position q is image q / L, position q % L:
 * copy them to out (image stride image_stride, channel o). */
static void store_tile(const int32_t* acc, int64_t start, int len, int64_t L, int64_t o, int64_t image_stride,
                       int32_t* out)
{
    for (int64_t q = start; q < start + len;) {
        int64_t b = q / L, p = q % L;
        int64_t run = L - p < start + len - q ? L - p : start + len - q;
        memcpy(out + b * image_stride + o * L + p, acc + (q - start), (size_t)run * sizeof(int32_t));
        q += run;
    }
}

/* One block of LL positions (LL / L images): table16 may be NULL (then table32 is used); offset16 is
 * 0 or 32768.  With sum_coef (int32[O]) and out_bias (int32[O]) the output is
 * acc[o, p] + sum_coef[o] * sum_k cols[k, p] + out_bias[o]: the zero-point corrections, exact in
 * int32 where the caller has checked the bound. */
static void gather_block(const uint8_t* cols, int64_t K, int64_t LL, int64_t L, const uint8_t* w, int64_t O,
                         const int16_t* table16, int32_t offset16, const int32_t* table32,
                         const int32_t* sum_coef, const int32_t* out_bias, int64_t image_stride, int32_t* out)
{
    int32_t acc[TILE], sums[TILE];
    for (int64_t start = 0; start < LL; start += TILE) {
        int len = LL - start < TILE ? (int)(LL - start) : TILE;
        if (sum_coef) index_sums(cols, K, LL, start, len, sums);
        for (int64_t o = 0; o < O; ++o) {
#ifdef __AVX512BW__
            if (table16) {
                tile16(cols, K, LL, start, len, w + o * K, table16, acc);
                if (offset16)
                    for (int p = 0; p < len; ++p) acc[p] += (int32_t)(offset16 * K);
            } else
#endif
                tile32(cols, K, LL, start, len, w + o * K, table32, acc);
            if (sum_coef)
                for (int p = 0; p < len; ++p) acc[p] += sum_coef[o] * sums[p] + out_bias[o];
            store_tile(acc, start, len, L, o, image_stride, out);
        }
    }
}

/* cols[k, i * wo + j] (row stride ld) = image[c, i * sh + di * dh, j * sw + dj * dw] for k = (c * kh + di) * kw + dj. */
static void im2col(const uint8_t* image, int64_t hp, int64_t wp, int64_t cin_g, int64_t kh, int64_t kw,
                   int64_t sh, int64_t sw, int64_t dh, int64_t dw, int64_t ho, int64_t wo, int64_t ld, uint8_t* cols)
{
    for (int64_t c = 0; c < cin_g; ++c)
        for (int64_t di = 0; di < kh; ++di)
            for (int64_t dj = 0; dj < kw; ++dj) {
                uint8_t* dst = cols + ((c * kh + di) * kw + dj) * ld;
                for (int64_t i = 0; i < ho; ++i) {
                    const uint8_t* src = image + (c * hp + i * sh + di * dh) * wp + dj * dw;
                    if (sw == 1)
                        memcpy(dst + i * wo, src, (size_t)wo);
                    else
                        for (int64_t j = 0; j < wo; ++j) dst[i * wo + j] = src[j * sw];
                }
            }
}

/* Images [first, last) of a padded batch codes uint8[N, C, hp, wp]; the group's input channels
 * start at channel c0; w uint8[O, cin_g * kh * kw]; out int32[N, O_total, ho * wo] from channel o0.
 * geometry = {C, hp, wp, cin_g, kh, kw, sh, sw, dh, dw, ho, wo, c0, o0, O_total, B}: B images go
 * into one block; cols: K * B * ho * wo bytes; sum_coef / out_bias: see gather_block (NULL for none). */
void xaigen_gather_conv(const uint8_t* codes, int64_t first, int64_t last, const int64_t* geometry,
                        const uint8_t* w, int64_t O, const int16_t* table16, int32_t offset16,
                        const int32_t* table32, const int32_t* sum_coef, const int32_t* out_bias,
                        uint8_t* cols, int32_t* out)
{
    const int64_t C = geometry[0], hp = geometry[1], wp = geometry[2], cin_g = geometry[3];
    const int64_t kh = geometry[4], kw = geometry[5], ho = geometry[10], wo = geometry[11];
    const int64_t c0 = geometry[12], o0 = geometry[13], o_total = geometry[14], per_block = geometry[15];
    const int64_t K = cin_g * kh * kw, L = ho * wo;
    for (int64_t n = first; n < last; n += per_block) {
        const int64_t images = last - n < per_block ? last - n : per_block, LL = images * L;
        for (int64_t b = 0; b < images; ++b)
            im2col(codes + ((n + b) * C + c0) * hp * wp, hp, wp, cin_g, kh, kw, geometry[6], geometry[7],
                   geometry[8], geometry[9], ho, wo, LL, cols + b * L);
        gather_block(cols, K, LL, L, w, O, table16, offset16, table32, sum_coef, out_bias, o_total * L,
                     out + (n * o_total + o0) * L);
    }
}

/* xaigen_gather_conv over all images [0, count), on `threads` OpenMP threads (parallel.h); thread t
 * builds its columns in cols + t col_bytes (cols holds `threads` such buffers). */
void xaigen_gather_conv_all(const uint8_t* codes, int64_t count, int64_t threads, const int64_t* geometry,
                            const uint8_t* w, int64_t O, const int16_t* table16, int32_t offset16,
                            const int32_t* table32, const int32_t* sum_coef, const int32_t* out_bias,
                            uint8_t* cols, int64_t col_bytes, int32_t* out)
{
    XAIGEN_RANGES(count, xaigen_gather_conv(codes, first, last, geometry, w, O, table16, offset16, table32, sum_coef,
                                            out_bias, cols + thread * col_bytes, out));
}
