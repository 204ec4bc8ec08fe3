/* The activation code of a float32 input, shared by the C front ends (frontend.c, direct.c).
 *
 * q = clamp(rint(x / s) + z, qmin, qmax), returned as the value-ordered index q - vmin: IEEE float32
 * division and rint (round half to even), as torch.round(x / s); the build disables FP contraction.
 * A NaN input takes qmin (the scalar and the vector forms agree, and no index leaves the table).
 */
#ifndef XAIGEN_CODES_H
#define XAIGEN_CODES_H
#include <math.h>
#include <stdint.h>
#ifdef __AVX512F__
#include <immintrin.h>
#endif

static inline int32_t code_index(float x, float scale, float zero, float qmin, float qmax, float vmin)
{
    float q = rintf(x / scale) + zero;
    q = q > qmin ? q : qmin; /* maxss: NaN -> qmin, as _mm512_max_ps(q, qmin) */
    q = q < qmax ? q : qmax; /* minss */
    return (int32_t)(q - vmin);
}

#ifdef __AVX512F__
typedef struct { __m512 scale, zero, qmin, qmax, vmin; } code_params16;

static inline code_params16 code_params(float scale, float zero, float qmin, float qmax, float vmin)
{
    code_params16 p = {_mm512_set1_ps(scale), _mm512_set1_ps(zero), _mm512_set1_ps(qmin), _mm512_set1_ps(qmax),
                       _mm512_set1_ps(vmin)};
    return p;
}

/* The indices of 16 inputs at once, equal to code_index on each. */
static inline __m512i code_index16(__m512 x, const code_params16* p)
{
    __m512 q = _mm512_roundscale_ps(_mm512_div_ps(x, p->scale), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    q = _mm512_min_ps(_mm512_max_ps(_mm512_add_ps(q, p->zero), p->qmin), p->qmax);
    return _mm512_cvttps_epi32(_mm512_sub_ps(q, p->vmin));
}
#endif

#ifdef __AVX512F__
/* The mask of the first min(remaining, 16) lanes. */
static inline __mmask16 lanes_mask(int64_t remaining)
{
    return remaining >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << remaining) - 1u);
}

/* Element offsets 0, sw, ..., 15 sw of 16 inputs with stride sw. */
static inline __m512i strided_lanes(int64_t sw)
{
    return _mm512_mullo_epi32(_mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
                              _mm512_set1_epi32((int32_t)sw));
}

/* src[j * sw] for the lanes j of m (0 elsewhere): one load where contiguous, else a gather. */
static inline __m512 load16(const float* src, __mmask16 m, int64_t sw, __m512i lanes)
{
    return sw == 1 ? _mm512_maskz_loadu_ps(m, src) : _mm512_mask_i32gather_ps(_mm512_setzero_ps(), m, lanes, src, 4);
}
#endif

/* idx[j] = code index of src[j * sw] for j < W (the last partial vector masked). */
static inline void row_indices(const float* src, int64_t W, int64_t sw, float scale, float zero, float qmin, float qmax,
                               float vmin, int32_t* idx)
{
#ifdef __AVX512F__
    const code_params16 p = code_params(scale, zero, qmin, qmax, vmin);
    const __m512i lanes = strided_lanes(sw);
    for (int64_t j = 0; j < W; j += 16) {
        const __mmask16 m = lanes_mask(W - j);
        _mm512_mask_storeu_epi32((void*)(idx + j), m, code_index16(load16(src + j * sw, m, sw, lanes), &p));
    }
#else
    for (int64_t j = 0; j < W; ++j) idx[j] = code_index(src[j * sw], scale, zero, qmin, qmax, vmin);
#endif
}

#ifdef __AVX512BW__
/* t[idx] for 32 indices in [0, 256) (epi16 lanes) from a 256-entry int16 table held in 8 registers:
 * vpermt2w picks on the low 6 bits, two blends on bits 6 and 7. */
static inline __m512i lookup32(const __m512i t[8], __m512i idx)
{
    __m512i r01 = _mm512_permutex2var_epi16(t[0], idx, t[1]);
    __m512i r23 = _mm512_permutex2var_epi16(t[2], idx, t[3]);
    __m512i r45 = _mm512_permutex2var_epi16(t[4], idx, t[5]);
    __m512i r67 = _mm512_permutex2var_epi16(t[6], idx, t[7]);
    __mmask32 b6 = _mm512_test_epi16_mask(idx, _mm512_set1_epi16(64));
    __mmask32 b7 = _mm512_test_epi16_mask(idx, _mm512_set1_epi16(128));
    __m512i r03 = _mm512_mask_blend_epi16(b6, r01, r23);
    __m512i r47 = _mm512_mask_blend_epi16(b6, r45, r67);
    return _mm512_mask_blend_epi16(b7, r03, r47);
}
#endif
#endif
