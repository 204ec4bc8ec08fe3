"""DRAM re-fetch follows the fold loops."""

from xaigen.hardware import gemm_cycles, layer_memory


def test_operands_that_fit_half_their_buffer_are_fetched_once():
    c = gemm_cycles(64, 64, 64, 16, 8, "os")
    mem = layer_memory(c, 4096, 4096, 4096, 16, 16, 16)
    assert (mem.ifmap_dram_bytes, mem.filter_dram_bytes, mem.ofmap_dram_bytes) == (4096, 4096, 4096)


def test_inputs_overflowing_are_fetched_once_per_column_fold_unless_a_block_stays():
    c = gemm_cycles(1000, 64, 40, 16, 8, "ws")  # K=64: 4 row folds; N=40: 5 column folds
    assert (c.row_folds, c.col_folds) == (4, 5)
    inputs = 1000 * 64  # 64,000 B against a 16 KiB active half
    # One block (16,000 B) fits a 16 KiB half: run row folds outermost, fetch each block once.
    assert layer_memory(c, inputs, 64 * 40, 1000 * 40, 32, 64, 64).ifmap_dram_bytes == inputs
    # A block overflows an 8 KiB half too: every column fold streams the inputs again.
    assert layer_memory(c, inputs, 64 * 40, 1000 * 40, 16, 64, 64).ifmap_dram_bytes == inputs * 5


def test_output_stationary_picks_the_cheaper_loop_order():
    c = gemm_cycles(160, 300, 64, 16, 8, "os")  # 10 row folds, 8 column folds
    inputs, weights = 160 * 300, 300 * 64  # 48,000 B and 19,200 B; halves of 16 KiB: 8,192 B
    mem = layer_memory(c, inputs, weights, 160 * 64, 16, 16, 64)
    # Column folds outermost keeps a weight block (2,400 B); row folds outermost keeps an input
    # block (4,800 B). Either way the other operand is re-streamed: 48,000 * 8 vs 19,200 * 10.
    assert mem.ifmap_dram_bytes + mem.filter_dram_bytes == min(inputs * 8 + weights, inputs + weights * 10)
