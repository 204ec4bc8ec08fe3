/* Quantize-and-lookup front ends (see xaigen/emulation/frontend.py and gather.py).
 *
 * Both quantize a float32 activation x to the layer's code q = clamp(rint(x / s) + z, qmin, qmax)
 * (IEEE float32 division, rint = round half to even, as torch.round(x / s); the build disables FP
 * contraction) and write the value-ordered index q - vmin or the factor bytes of that code.
 */
#include <stdint.h>
#include <string.h>

#include "codes.h"
#include "parallel.h"

/* codes[c, top + i, left + j] = index of x[c, i, j] for the planes [first, last) of x float32[planes, H, W];
 * the border of codes [planes, H + 2 top, W + 2 left] holds pad_index. */
void xaigen_quantize_pad(const float* x, int64_t first, int64_t last, int64_t H, int64_t W, int64_t top,
                         int64_t left, float scale, float zero, float qmin, float qmax, float vmin,
                         uint8_t pad_index, uint8_t* codes)
{
    const int64_t hp = H + 2 * top, wp = W + 2 * left;
    for (int64_t c = first; c < last; ++c) {
        uint8_t* plane = codes + c * hp * wp;
        memset(plane, pad_index, (size_t)(top * wp));
        memset(plane + (top + H) * wp, pad_index, (size_t)(top * wp));
        for (int64_t i = 0; i < H; ++i) {
            const float* src = x + (c * H + i) * W;
            uint8_t* dst = plane + (top + i) * wp;
            memset(dst, pad_index, (size_t)left);
            memset(dst + left + W, pad_index, (size_t)left);
            for (int64_t j = 0; j < W; ++j) dst[left + j] = (uint8_t)code_index(src[j], scale, zero, qmin, qmax, vmin);
        }
    }
}

#if defined(__AVX512BW__) && defined(__AVX512VL__)
#define XAIGEN_STORE3 1
/* The low 3 bytes of each of 16 words, packed into 48 bytes at d (vpshufb within each 128-bit lane,
 * then one masked 12-byte store per lane: no byte past d + 48 is written). */
static inline void store3(uint8_t* d, __m512i words)
{
    const __m512i pick = _mm512_broadcast_i32x4(_mm_setr_epi8(0, 1, 2, 4, 5, 6, 8, 9, 10, 12, 13, 14, -1, -1, -1, -1));
    const __m512i packed = _mm512_shuffle_epi8(words, pick);
    _mm_mask_storeu_epi8(d, 0x0FFF, _mm512_castsi512_si128(packed));
    _mm_mask_storeu_epi8(d + 12, 0x0FFF, _mm512_extracti32x4_epi32(packed, 1));
    _mm_mask_storeu_epi8(d + 24, 0x0FFF, _mm512_extracti32x4_epi32(packed, 2));
    _mm_mask_storeu_epi8(d + 36, 0x0FFF, _mm512_extracti32x4_epi32(packed, 3));
}
#else
#define XAIGEN_STORE3 0
#endif

#if defined(__AVX512BW__) && defined(__AVX512VBMI__)
#define XAIGEN_STORE_WIDE 1
/* The byte permutation that packs the first R bytes (5 <= R <= 8) of each of 8 qwords into 8 R bytes. */
static inline __m512i wide_pick(int64_t R)
{
    uint8_t pick[64];
    for (int k = 0; k < 64; ++k) pick[k] = (uint8_t)(k < 8 * R ? (k / R) * 8 + k % R : 0);
    return _mm512_loadu_si512((const void*)pick);
}
#else
#define XAIGEN_STORE_WIDE 0
#endif

#if XAIGEN_STORE_WIDE
#define XAIGEN_PLANES_MAX 6
/* The factor tables of R = 2..XAIGEN_PLANES_MAX held in registers (see lookup64), prepared once per call of
 * xaigen_lookup_rows: plane[r] holds factor r's 256 bytes; code e of a 64-code step goes to output
 * byte e R + r, so output chunk k (bytes 64 k .. 64 k + 63) takes byte i from plane (64 k + i) % R at
 * position spread[k][i] = (64 k + i) / R, where pick[k][r] marks its bytes. */
typedef struct {
    uint8_t plane[XAIGEN_PLANES_MAX][256];
    uint8_t spread[XAIGEN_PLANES_MAX][64];
    __mmask64 pick[XAIGEN_PLANES_MAX][XAIGEN_PLANES_MAX];
} planes64;

static void planes64_init(planes64* q, const uint8_t* table8, int64_t R)
{
    memset(q, 0, sizeof(*q));
    for (int64_t r = 0; r < R; ++r)
        for (int i = 0; i < 256; ++i) q->plane[r][i] = table8[8 * i + r];
    for (int64_t k = 0; k < R; ++k)
        for (int i = 0; i < 64; ++i) {
            q->spread[k][i] = (uint8_t)((64 * k + i) / R);
            q->pick[k][(64 * k + i) % R] |= (__mmask64)1 << i;
        }
}

/* Codes [0, 64 n) of src looked up as in lookup16, 64 at a time: the 64 indices as bytes; each
 * factor byte from its 256-byte plane in four registers (two vpermi2b on the low 7 bits, a blend on
 * bit 7); the R planes interleaved by R vpermb per 64-byte chunk, no gather. Returns 64 n. */
static inline __attribute__((always_inline)) int64_t lookup64_r(const float* src, int64_t len, const code_params16* p,
                                                               const planes64* q, const int64_t R, uint8_t* d)
{
    __m512i t[4 * XAIGEN_PLANES_MAX], spread[XAIGEN_PLANES_MAX];
    for (int64_t r = 0; r < R; ++r)
        for (int j = 0; j < 4; ++j) t[4 * r + j] = _mm512_loadu_si512((const void*)(q->plane[r] + 64 * j));
    for (int64_t k = 0; k < R; ++k) spread[k] = _mm512_loadu_si512((const void*)q->spread[k]);
    int64_t e = 0;
    for (; e + 64 <= len; e += 64) {
        const __m128i b0 = _mm512_cvtepi32_epi8(code_index16(_mm512_loadu_ps(src + e), p));
        const __m128i b1 = _mm512_cvtepi32_epi8(code_index16(_mm512_loadu_ps(src + e + 16), p));
        const __m128i b2 = _mm512_cvtepi32_epi8(code_index16(_mm512_loadu_ps(src + e + 32), p));
        const __m128i b3 = _mm512_cvtepi32_epi8(code_index16(_mm512_loadu_ps(src + e + 48), p));
        const __m256i lo = _mm256_inserti128_si256(_mm256_castsi128_si256(b0), b1, 1);
        const __m256i hi = _mm256_inserti128_si256(_mm256_castsi128_si256(b2), b3, 1);
        const __m512i index = _mm512_inserti64x4(_mm512_castsi256_si512(lo), hi, 1);
        const __mmask64 upper = _mm512_movepi8_mask(index);
        __m512i plane[XAIGEN_PLANES_MAX];
        for (int64_t r = 0; r < R; ++r)
            plane[r] = _mm512_mask_blend_epi8(upper, _mm512_permutex2var_epi8(t[4 * r], index, t[4 * r + 1]),
                                              _mm512_permutex2var_epi8(t[4 * r + 2], index, t[4 * r + 3]));
        for (int64_t k = 0; k < R; ++k) {
            __m512i out = _mm512_permutexvar_epi8(spread[k], plane[0]);
            for (int64_t r = 1; r < R; ++r) out = _mm512_mask_permutexvar_epi8(out, q->pick[k][r], spread[k], plane[r]);
            _mm512_storeu_si512((void*)(d + R * e + 64 * k), out);
        }
    }
    return e;
}

static int64_t lookup64(const float* src, int64_t len, const code_params16* p, const planes64* q, int64_t R,
                        uint8_t* d)
{
    switch (R) { /* a constant R per copy: the loops over r and k unroll, the tables stay in registers */
    case 2: return lookup64_r(src, len, p, q, 2, d);
    case 3: return lookup64_r(src, len, p, q, 3, d);
    case 4: return lookup64_r(src, len, p, q, 4, d);
    case 5: return lookup64_r(src, len, p, q, 5, d);
    case 6: return lookup64_r(src, len, p, q, 6, d);
    default: return 0;
    }
}
#endif

/* R = 1, 2, 3 (with AVX-512BW and VL) or 4 with AVX-512: 16 codes at a time, their R factor bytes
 * gathered as one 32-bit word each (table8 rows are 8 bytes) and narrowed to R bytes; R = 5..8 (with
 * AVX-512BW and VBMI): 8 codes' 64-bit rows per gather, packed to 8 R bytes by one vpermb; for R = 1
 * with AVX-512BW, 32 codes at a time looked up in table16 (the factor bytes as int16) held in
 * registers, no gather; with ``planes`` (R = 2..6 with AVX-512 VBMI, see lookup64) 64 codes at a
 * time from registers first, the rest as above.  Returns 0 where it does not apply. */
static int lookup16(const float* src, int64_t len, float scale, float zero, float qmin, float qmax, float vmin,
                    const uint8_t* table8, const int16_t* table16, const void* planes, int64_t R, uint8_t* d)
{
#ifdef __AVX512F__
    if (R != 1 && R != 2 && R != 4 && !(R == 3 && XAIGEN_STORE3) && !(R >= 5 && R <= 8 && XAIGEN_STORE_WIDE)) return 0;
    const code_params16 p = code_params(scale, zero, qmin, qmax, vmin);
    int64_t e = 0;
#if XAIGEN_STORE_WIDE
    if (planes != NULL) e = lookup64(src, len, &p, (const planes64*)planes, R, d);
    if (R >= 5) {
        const __m512i pick = wide_pick(R);
        const __mmask64 keep = R == 8 ? ~(__mmask64)0 : (((__mmask64)1 << (8 * R)) - 1);
        for (; e + 16 <= len; e += 16) {
            const __m512i index = code_index16(_mm512_loadu_ps(src + e), &p);
            const __m512i lo = _mm512_i32gather_epi64(_mm512_castsi512_si256(index), (const void*)table8, 8);
            const __m512i hi = _mm512_i32gather_epi64(_mm512_extracti64x4_epi64(index, 1), (const void*)table8, 8);
            _mm512_mask_storeu_epi8(d + R * e, keep, _mm512_permutexvar_epi8(pick, lo));
            _mm512_mask_storeu_epi8(d + R * (e + 8), keep, _mm512_permutexvar_epi8(pick, hi));
        }
        /* fewer than 16 codes are left: the loops below skip R >= 5 and the shared tail copies them */
    }
#endif
#ifdef __AVX512BW__
    if (R == 1 && len >= 32) {
        __m512i t[8];
        for (int i = 0; i < 8; ++i) t[i] = _mm512_loadu_si512((const void*)(table16 + 32 * i));
        for (; e + 32 <= len; e += 32) {
            const __m256i lo = _mm512_cvtepi32_epi16(code_index16(_mm512_loadu_ps(src + e), &p));
            const __m256i hi = _mm512_cvtepi32_epi16(code_index16(_mm512_loadu_ps(src + e + 16), &p));
            const __m512i v = lookup32(t, _mm512_inserti64x4(_mm512_castsi256_si512(lo), hi, 1));
            _mm256_storeu_si256((__m256i*)(d + e), _mm512_cvtepi16_epi8(v));
        }
    }
#else
    (void)table16;
#endif
    for (; e + 16 <= len; e += 16) {
        const __m512i words = _mm512_i32gather_epi32(code_index16(_mm512_loadu_ps(src + e), &p), (const void*)table8, 8);
        if (R == 1) _mm_storeu_si128((__m128i*)(d + e), _mm512_cvtepi32_epi8(words));
        else if (R == 2) _mm256_storeu_si256((__m256i*)(d + 2 * e), _mm512_cvtepi32_epi16(words));
#if XAIGEN_STORE3
        else if (R == 3) store3(d + 3 * e, words);
#endif
        else _mm512_storeu_si512((void*)(d + 4 * e), words);
    }
    for (; e < len; ++e) memcpy(d + e * R, table8 + 8 * code_index(src[e], scale, zero, qmin, qmax, vmin), (size_t)R);
    return 1;
#else
    (void)src; (void)len; (void)scale; (void)zero; (void)qmin; (void)qmax; (void)vmin; (void)table8; (void)table16;
    (void)planes; (void)R; (void)d;
    return 0;
#endif
}

/* The padding of the output rows of input rows [first, last) (see xaigen_lookup_rows): bytes
 * [0, left_end) and [right_start, row_bytes) of each, and an image's top / bottom rows whole. */
static void fill_border_rows(int64_t first, int64_t last, int64_t rows_in, int64_t rows_out, int64_t top,
                             int64_t left_end, int64_t right_start, int64_t row_bytes, const uint8_t* border,
                             uint8_t* out)
{
    for (int64_t row = first; row < last; ++row) {
        const int64_t n = row / rows_in, i = row % rows_in;
        uint8_t* image = out + n * rows_out * row_bytes;
        uint8_t* dst = image + (top + i) * row_bytes;
        memcpy(dst, border, (size_t)left_end);
        memcpy(dst + right_start, border + right_start, (size_t)(row_bytes - right_start));
        if (i == 0)
            for (int64_t j = 0; j < top; ++j) memcpy(image + j * row_bytes, border, (size_t)row_bytes);
        if (i == rows_in - 1)
            for (int64_t j = top + rows_in; j < rows_out; ++j) memcpy(image + j * row_bytes, border, (size_t)row_bytes);
    }
}

/* For the input rows [first, last) of x float32[rows, length]: row n * rows_in + i goes to byte row
 * n * rows_out + top + i of out (row_bytes bytes each), from byte offset on, element e's R factor
 * bytes table8[index, 0..R-1] at e * R.  table8 is uint8[256, T] (rows zero-padded to T = 8 bytes,
 * or 16 for R > 8), so every element moves as one T-byte word; elements overlap the next ones'
 * bytes, which the next stores overwrite (the row's last elements, whose word would end past the
 * row, are copied byte by byte, so no row writes past its end and threads never touch each
 * other's rows).  With a border (uint8[row_bytes]: the padding bytes of one whole output row), the
 * bytes of each row outside [offset, offset + length R) and, for an image's first and last input
 * row, the image's top and bottom output rows are copied from it: the caller's padding, written by
 * the thread that writes the row it borders. */
void xaigen_lookup_rows(const float* x, int64_t first, int64_t last, int64_t length, int64_t rows_in,
                        int64_t rows_out, int64_t top, int64_t offset, int64_t row_bytes, float scale, float zero,
                        float qmin, float qmax, float vmin, const uint8_t* table8, int64_t R, uint8_t* out,
                        const uint8_t* border)
{
    if (border != NULL) fill_border_rows(first, last, rows_in, rows_out, top, offset, offset + length * R, row_bytes,
                                         border, out);
    int32_t index[1024];
    int16_t table16[256];
    const int64_t T = R > 8 ? 16 : 8;
    for (int i = 0; i < 256; ++i) table16[i] = table8[T * i];
    const void* planes = NULL;
#if XAIGEN_STORE_WIDE
    planes64 prepared;
    if (R >= 2 && R <= XAIGEN_PLANES_MAX) {
        planes64_init(&prepared, table8, R);
        planes = &prepared;
    }
#endif
    for (int64_t row = first; row < last; ++row) {
        const float* src = x + row * length;
        uint8_t* dst = out + ((row / rows_in) * rows_out + top + row % rows_in) * row_bytes + offset;
        for (int64_t start = 0; start < length; start += 1024) {
            const int64_t len = length - start < 1024 ? length - start : 1024;
            uint8_t* d = dst + start * R;
            if (T == 8 && lookup16(src + start, len, scale, zero, qmin, qmax, vmin, table8, table16, planes, R, d))
                continue;
            row_indices(src + start, len, 1, scale, zero, qmin, qmax, vmin, index);
            if (R == 1) {
                for (int64_t e = 0; e < len; ++e) d[e] = table8[8 * index[e]];
                continue;
            }
            /* words while they end inside the row; the row's last few elements byte by byte */
            const int64_t words = (length * R >= T ? (length * R - T) / R + 1 : 0) - start;
            const int64_t fast = words < 0 ? 0 : (words < len ? words : len);
            if (T == 8)
                for (int64_t e = 0; e < fast; ++e) memcpy(d + e * R, table8 + 8 * index[e], 8);
            else
                for (int64_t e = 0; e < fast; ++e) memcpy(d + e * R, table8 + 16 * index[e], 16);
            for (int64_t e = fast; e < len; ++e) memcpy(d + e * R, table8 + T * index[e], (size_t)R);
        }
    }
}

/* xaigen_quantize_pad over all planes [0, count), on `threads` OpenMP threads (parallel.h). */
void xaigen_quantize_pad_all(const float* x, int64_t count, int64_t threads, int64_t H, int64_t W, int64_t top,
                             int64_t left, float scale, float zero, float qmin, float qmax, float vmin,
                             uint8_t pad_index, uint8_t* codes)
{
    XAIGEN_RANGES(count, xaigen_quantize_pad(x, first, last, H, W, top, left, scale, zero, qmin, qmax, vmin,
                                             pad_index, codes));
}

/* xaigen_lookup_rows over all input rows [0, count), on `threads` OpenMP threads (parallel.h). */
void xaigen_lookup_rows_all(const float* x, int64_t count, int64_t threads, int64_t length, int64_t rows_in,
                            int64_t rows_out, int64_t top, int64_t offset, int64_t row_bytes, float scale, float zero,
                            float qmin, float qmax, float vmin, const uint8_t* table8, int64_t R, uint8_t* out,
                            const uint8_t* border)
{
    XAIGEN_RANGES(count, xaigen_lookup_rows(x, first, last, length, rows_in, rows_out, top, offset, row_bytes, scale,
                                            zero, qmin, qmax, vmin, table8, R, out, border));
}

/* 1 when the library was built with OpenMP (the "_all" entry points then run in parallel). */
int xaigen_openmp(void)
{
#ifdef _OPENMP
    return 1;
#else
    return 0;
#endif
}

/* 1 when a parallel region of n threads sees a team of n numbered 0 .. n - 1 (n <= 32), else 0:
 * native.py's check that this library's regions run on the runtime its omp_* calls bind to. */
int xaigen_omp_team(int n)
{
#ifdef _OPENMP
    unsigned seen = 0;
    int team = 0;
    if (n < 1 || n > 32) return 0;
#pragma omp parallel num_threads(n)
    {
#pragma omp atomic
        seen |= 1u << (omp_get_thread_num() & 31);
#pragma omp single
        team = omp_get_num_threads();
    }
    return team == n && seen == (n == 32 ? ~0u : (1u << n) - 1u);
#else
    (void)n;
    return 0;
#endif
}

/* The calling thread's OpenMP thread count, set (n > 0) or read (n = 0): native.py's probe that
 * this library and torch share one OpenMP runtime. 0 without OpenMP. */
int xaigen_omp_threads(int n)
{
#ifdef _OPENMP
    if (n > 0) omp_set_num_threads(n);
    return omp_get_max_threads();
#else
    (void)n;
    return 0;
#endif
}
