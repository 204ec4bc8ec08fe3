/* Ranges of work on OpenMP threads, for the kernels' "_all" entry points.
 *
 * Built with gcc's -fopenmp, the library asks for libgomp.so.1, and the dynamic loader hands it the
 * copy torch already loaded (one soname, one library): the parallel regions then run on torch's own
 * worker threads, which after one of torch's ops are still awake, instead of on a second pool that
 * would compete with them for the cores. native.py checks that the runtime is shared before it
 * uses these entry points. Built without OpenMP, a range is the whole count, in the calling thread.
 */
#ifndef XAIGEN_PARALLEL_H
#define XAIGEN_PARALLEL_H
#include <stdint.h>
#ifdef _OPENMP
#include <omp.h>
/* CALL, with `first` and `last` bound to thread t's range [count t / T, count (t + 1) / T), on T =
 * `threads` (a variable of that name in the caller) threads; `thread` is t. */
#define XAIGEN_RANGES(count, CALL)                                                                   \
    do {                                                                                             \
        _Pragma("omp parallel num_threads(threads)")                                                 \
        {                                                                                            \
            const int64_t thread = omp_get_thread_num(), team_ = omp_get_num_threads();              \
            const int64_t first = (count) * thread / team_, last = (count) * (thread + 1) / team_;   \
            if (first < last) CALL;                                                                  \
        }                                                                                            \
    } while (0)
#else
#define XAIGEN_RANGES(count, CALL)                                                                   \
    do {                                                                                             \
        const int64_t thread = 0, first = 0, last = (count);                                         \
        (void)threads;                                                                               \
        (void)thread;                                                                                \
        if (first < last) CALL;                                                                      \
    } while (0)
#endif
#endif
