"""The GPU kernels' math functions are accurate: the same LLVM IR they put in PTX, JIT-compiled
for this CPU and compared with numpy (no GPU needed)."""

from __future__ import annotations

import ctypes
import math

import llvmlite.binding as llvm
import numpy as np
import pytest
from llvmlite import ir

from graphc.runtime.cuda.devmath import DeviceMath
from graphc.runtime.llvm.jit import new_target_machine

I64 = ir.IntType(64)
PTR = ir.PointerType()
ERF = np.vectorize(math.erf)
CASES = {
    "exp": (np.exp, (-80.0, 80.0)),
    "log": (np.log, (1e-30, 1e30)),
    "sin": (np.sin, (-40.0, 40.0)),
    "cos": (np.cos, (-40.0, 40.0)),
    "tanh": (np.tanh, (-12.0, 12.0)),
    "sigmoid": (lambda x: 1 / (1 + np.exp(-x)), (-30.0, 30.0)),
    "erf": (ERF, (-5.0, 5.0)),
}
# float64 exp/log/sin/cos/tanh are carried to double precision; erf's fit is good to 1.2e-7
RTOL = {("f64", "erf"): 3e-7, ("f32", "erf"): 3e-6}


def _jit(op: str, ty):
    module = ir.Module(name=f"devmath_{op}")
    module.triple = llvm.get_default_triple()
    nargs = 2 if op == "pow" else 1
    fn = ir.Function(module, ir.FunctionType(ir.VoidType(), [PTR] * (nargs + 1) + [I64]), name="apply")
    entry = fn.append_basic_block("entry")
    loop = fn.append_basic_block("loop")
    done = fn.append_basic_block("done")
    b = ir.IRBuilder(entry)
    b.branch(loop)
    b.position_at_end(loop)
    i = b.phi(I64)
    i.add_incoming(ir.Constant(I64, 0), entry)

    def intrinsic(name, t, n):
        full = name + (".f32" if t == ir.FloatType() else ".f64")
        f = module.globals.get(full)
        return f if f is not None else ir.Function(module, ir.FunctionType(t, [t] * n), name=full)

    args = [b.load(b.gep(fn.args[k], [i], source_etype=ty), typ=ty) for k in range(nargs)]
    y = getattr(DeviceMath(b, intrinsic), op)(*args)
    b.store(y, b.gep(fn.args[nargs], [i], source_etype=ty))
    nxt = b.add(i, ir.Constant(I64, 1))
    i.add_incoming(nxt, b.block)
    b.cbranch(b.icmp_signed("<", nxt, fn.args[-1]), loop, done)
    ir.IRBuilder(done).ret_void()
    mod = llvm.parse_assembly(str(module))
    mod.verify()
    engine = llvm.create_mcjit_compiler(mod, new_target_machine())
    engine.finalize_object()
    cfn = ctypes.CFUNCTYPE(None, *([ctypes.c_void_p] * (nargs + 1)), ctypes.c_int64)(engine.get_function_address("apply"))

    def run(*arrays):
        out = np.empty_like(arrays[0])
        cfn(*[a.ctypes.data for a in arrays], out.ctypes.data, out.size)
        return out

    run.engine = engine  # keep the code alive
    return run


@pytest.mark.parametrize("dtype", ["f32", "f64"])
@pytest.mark.parametrize("op", sorted(CASES))
def test_device_math_matches_numpy(op, dtype):
    np_dtype = np.float32 if dtype == "f32" else np.float64
    ref, (lo, hi) = CASES[op]
    rng = np.random.default_rng(0)
    if op == "log":
        x = np.exp(rng.uniform(np.log(lo), np.log(hi), 4000)).astype(np_dtype)
    else:
        x = rng.uniform(lo, hi, 4000).astype(np_dtype)
    x = np.concatenate([x, np.array([0.0, -0.0, 0.5, 1.0, -1.0, 1e-3, -1e-3], np_dtype)])
    if op == "log":
        x = np.abs(x) + np_dtype(1e-30)
    got = _jit(op, ir.FloatType() if dtype == "f32" else ir.DoubleType())(x)
    want = ref(x.astype(np.float64))
    rtol = RTOL.get((dtype, op), 4e-6 if dtype == "f32" else 2e-14)
    atol = 1e-7 if dtype == "f32" else 1e-15
    np.testing.assert_allclose(got, want, rtol=rtol, atol=atol)


@pytest.mark.parametrize("dtype", ["f32", "f64"])
def test_special_values(dtype):
    np_dtype = np.float32 if dtype == "f32" else np.float64
    ty = ir.FloatType() if dtype == "f32" else ir.DoubleType()
    x = np.array([np.nan, np.inf, -np.inf, 0.0], np_dtype)
    with np.errstate(all="ignore"):
        np.testing.assert_array_equal(_jit("exp", ty)(x), np.exp(x))
        np.testing.assert_array_equal(_jit("log", ty)(x), np.log(x))
        np.testing.assert_array_equal(_jit("tanh", ty)(x), np.tanh(x))
        assert np.isnan(_jit("sin", ty)(x[:3])).all() and np.isnan(_jit("cos", ty)(x[:3])).all()


@pytest.mark.parametrize("dtype", ["f32", "f64"])
def test_pow_signs_and_special_cases(dtype):
    np_dtype = np.float32 if dtype == "f32" else np.float64
    ty = ir.FloatType() if dtype == "f32" else ir.DoubleType()
    x = np.array([2.0, -2.0, -2.0, -2.0, 0.0, 0.0, 0.0, 1.0, np.nan, 3.5, 10.0], np_dtype)
    y = np.array([3.0, 3.0, 2.0, 0.5, 2.0, 0.0, -1.0, np.nan, 0.0, -1.25, 1.5], np_dtype)
    with np.errstate(all="ignore"):
        want = np.power(x.astype(np.float64), y.astype(np.float64))
    got = _jit("pow", ty)(x, y)
    np.testing.assert_allclose(got, want, rtol=4e-6 if dtype == "f32" else 1e-13, equal_nan=True)
