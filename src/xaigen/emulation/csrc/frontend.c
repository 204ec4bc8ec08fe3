/* Quantize-and-lookup front ends (see xaigen/emulation/frontend.py and gather.py).
 *
 * Both quantize a float32 activation x to the layer's code q = clamp(rint(x / s) + z, qmin, qmax)
 * (IEEE float32 division, rint = round half to even, as torch.round(x / s); the build disables FP
 * contraction) and write the value-ordered index q - vmin or the factor bytes of that code.
 */
#include <math.h>
#include <stdint.h>
#include <string.h>

static inline int32_t code_index(float x, float scale, float zero, float qmin, float qmax, float vmin)
{
    float q = rintf(x / scale) + zero;
    q = q < qmin ? qmin : (q > qmax ? qmax : q);
    return (int32_t)(q - vmin);
}

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

/* For the input rows [first, last) of x float32[rows, length]: row n * rows_in + i goes to byte row
 * n * rows_out + top + i of out (row_bytes bytes each), from byte offset on, element e's R factor
 * bytes table8[index, 0..R-1] at e * R.  table8 is uint8[256, 8] (rows zero-padded to 8 bytes), so
 * every element moves as one 8-byte word; elements overlap the next ones' bytes, which the next
 * stores overwrite (the row's last elements, whose word would end past the row, are copied byte by
 * byte, so no row writes past its end and threads never touch each other's rows). */
void xaigen_lookup_rows(const float* x, int64_t first, int64_t last, int64_t length, int64_t rows_in,
                        int64_t rows_out, int64_t top, int64_t offset, int64_t row_bytes, float scale, float zero,
                        float qmin, float qmax, float vmin, const uint8_t* table8, int64_t R, uint8_t* out)
{
    int32_t index[1024];
    for (int64_t row = first; row < last; ++row) {
        const float* src = x + row * length;
        uint8_t* dst = out + ((row / rows_in) * rows_out + top + row % rows_in) * row_bytes + offset;
        for (int64_t start = 0; start < length; start += 1024) {
            const int64_t len = length - start < 1024 ? length - start : 1024;
            for (int64_t e = 0; e < len; ++e) index[e] = code_index(src[start + e], scale, zero, qmin, qmax, vmin);
            uint8_t* d = dst + start * R;
            if (R == 1) {
                for (int64_t e = 0; e < len; ++e) d[e] = table8[8 * index[e]];
                continue;
            }
            /* words while they end inside the row; the row's last few elements byte by byte */
            const int64_t words = (length * R >= 8 ? (length * R - 8) / R + 1 : 0) - start;
            const int64_t fast = words < 0 ? 0 : (words < len ? words : len);
            for (int64_t e = 0; e < fast; ++e) memcpy(d + e * R, table8 + 8 * index[e], 8);
            for (int64_t e = fast; e < len; ++e) memcpy(d + e * R, table8 + 8 * index[e], (size_t)R);
        }
    }
}
