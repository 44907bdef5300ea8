"""benchmarks/inductor_loop.py reads a training step's calls out of Inductor's C++ wrapper: only the
inner loop's lines count (not the recorded losses around it), and a Python wrapper is no count."""

from __future__ import annotations

from benchmarks.inductor_loop import step_calls

# The shape of Inductor's C++ wrapper for the whole-schedule loop: the recorded loss outside both
# loops, then the inner loop's condition and step, whose buffers carry both loops' names.
WRAPPER = """
    AOTI_TORCH_ERROR_CODE_CHECK(aoti_torch_cpu_addmm_out(buf0, arg2_1, arg0_1, x, 1L, 1L));
    cpp_fused_tanh_0((double*)(buf1.data_ptr()));
    while (1) {
        // subgraph: while_loop_cond_graph_0
        cpp_fused_lt_2((const int64_t*)(while_loop_cond_graph_0_arg0_1.data_ptr()));
        // subgraph: while_loop_body_graph_0
        while (1) {
            AOTI_TORCH_ERROR_CODE_CHECK(aoti_torch_empty_strided(0, a, b, c, &while_loop_body_graph_0_while_loop_cond_graph_0_buf0_handle));
            cpp_fused_lt_4((const int64_t*)(while_loop_body_graph_0_while_loop_cond_graph_0_arg0_1.data_ptr()));
            AOTI_TORCH_ERROR_CODE_CHECK(aoti_torch_empty_strided(2, a, b, c, &while_loop_body_graph_0_while_loop_body_graph_0_buf1_handle));
            AOTI_TORCH_ERROR_CODE_CHECK(aoti_torch_cpu_addmm_out(while_loop_body_graph_0_while_loop_body_graph_0_buf1, y));
            cpp_fused_tanh_6((double*)(while_loop_body_graph_0_while_loop_body_graph_0_buf2.data_ptr()));
            AOTI_TORCH_ERROR_CODE_CHECK(aoti_torch_cpu_mm_out(while_loop_body_graph_0_while_loop_body_graph_0_buf6, z));
        }
        AOTI_TORCH_ERROR_CODE_CHECK(aoti_torch_cpu_addmm_out(while_loop_body_graph_0_buf7, w));
    }
"""


def test_a_step_is_the_inner_loops_lines():
    assert step_calls(WRAPPER) == {"extern_mm": 2, "kernels": 2, "allocations": 2}


def test_a_python_wrapper_is_not_counted():
    python = "def call(args):\n    extern_kernels.mm(while_loop_body_graph_0_while_loop_body_graph_0_buf1, x)\n"
    assert step_calls(python) is None
