"""Vectorisable float32 exp, log and tanh, emitted as straight-line LLVM IR.

LLVM lowers ``llvm.exp.f32`` to a scalar libm call per element, which stops loops from
vectorising. These are Cephes' single-precision approximations (range reduction plus a
minimax polynomial, about 1 ulp), written with selects instead of branches so the loop
vectoriser turns them into AVX-512 code. Special values follow IEEE/libm: NaN propagates,
exp overflows to inf and underflows gradually to 0, log(0) = -inf, log(x < 0) = NaN.
"""

from __future__ import annotations

from llvmlite import ir

F32 = ir.FloatType()
I32 = ir.IntType(32)


def _c(v: float):
    return ir.Constant(F32, v)


def _i(v: int):
    return ir.Constant(I32, v)


def _poly(b, x, coeffs):
    acc = _c(coeffs[0])
    for c in coeffs[1:]:
        acc = b.fadd(b.fmul(acc, x), _c(c))
    return acc


def _pow2(b, n):
    """2**n for an i32 n in [-126, 127] as a float, by building its exponent bits."""
    return b.bitcast(b.shl(b.add(n, _i(127)), _i(23)), F32)


def exp_f32(b: ir.IRBuilder, x, floor_fn):
    is_nan = b.fcmp_unordered("uno", x, x)
    xc = b.select(b.fcmp_ordered("<", x, _c(-104.0)), _c(-104.0), x)
    xc = b.select(b.fcmp_ordered(">", xc, _c(89.0)), _c(89.0), xc)
    fx = b.call(floor_fn, [b.fadd(b.fmul(xc, _c(1.44269504088896341)), _c(0.5))])
    r = b.fsub(b.fsub(xc, b.fmul(fx, _c(0.693359375))), b.fmul(fx, _c(-2.12194440e-4)))
    z = b.fmul(r, r)
    p = _poly(b, r, [1.9875691500e-4, 1.3981999507e-3, 8.3334519073e-3, 4.1665795894e-2, 1.6666665459e-1, 5.0000001201e-1])
    p = b.fadd(b.fadd(b.fmul(p, z), r), _c(1.0))
    n = b.fptosi(fx, I32)
    half = b.ashr(n, _i(1))  # scale in two steps so every factor is a normal number
    y = b.fmul(b.fmul(p, _pow2(b, half)), _pow2(b, b.sub(n, half)))
    return b.select(is_nan, x, y)


def log_f32(b: ir.IRBuilder, x):
    tiny = b.fcmp_ordered("<", x, _c(1.17549435e-38))  # subnormal (or zero / negative)
    xs = b.select(tiny, b.fmul(x, _c(8388608.0)), x)  # 2**23
    bits = b.bitcast(xs, I32)
    e = b.sub(b.and_(b.lshr(bits, _i(23)), _i(0xFF)), _i(126))
    e = b.select(tiny, b.sub(e, _i(23)), e)
    m = b.bitcast(b.or_(b.and_(bits, _i(0x807FFFFF)), _i(0x3F000000)), F32)  # mantissa in [0.5, 1)
    small = b.fcmp_ordered("<", m, _c(0.707106781186547524))
    ef = b.sitofp(b.select(small, b.sub(e, _i(1)), e), F32)
    m = b.select(small, b.fsub(b.fadd(m, m), _c(1.0)), b.fsub(m, _c(1.0)))
    z = b.fmul(m, m)
    y = _poly(b, m, [7.0376836292e-2, -1.1514610310e-1, 1.1676998740e-1, -1.2420140846e-1, 1.4249322787e-1,
                     -1.6668057665e-1, 2.0000714765e-1, -2.4999993993e-1, 3.3333331174e-1])
    y = b.fmul(b.fmul(y, m), z)
    y = b.fadd(y, b.fmul(ef, _c(-2.12194440e-4)))
    y = b.fsub(y, b.fmul(z, _c(0.5)))
    out = b.fadd(b.fadd(m, y), b.fmul(ef, _c(0.693359375)))
    out = b.select(b.fcmp_ordered("==", x, _c(float("inf"))), x, out)
    out = b.select(b.fcmp_ordered("==", x, _c(0.0)), _c(float("-inf")), out)
    return b.select(b.fcmp_unordered("ult", x, _c(0.0)), _c(float("nan")), out)  # x < 0 or NaN


def tanh_f32(b: ir.IRBuilder, x, floor_fn, fabs_fn):
    ax = b.call(fabs_fn, [x])
    z = b.fmul(x, x)
    small = b.fadd(b.fmul(b.fmul(_poly(b, z, [-5.70498872745e-3, 2.06390887954e-2, -5.37397155531e-2,
                                                1.33314422036e-1, -3.33332819422e-1]), z), x), x)
    e = exp_f32(b, b.fmul(ax, _c(2.0)), floor_fn)
    big = b.fsub(_c(1.0), b.fdiv(_c(2.0), b.fadd(e, _c(1.0))))
    big = b.select(b.fcmp_ordered("<", x, _c(0.0)), b.fneg(big), big)
    return b.select(b.fcmp_ordered("<", ax, _c(0.625)), small, big)  # NaN falls to `big`: NaN
