"""Transcendental functions for GPU kernels, emitted as straight-line LLVM IR.

The NVPTX backend turns ``llvm.exp``/``llvm.log``/``llvm.sin``/``llvm.pow`` into calls of libm
functions that do not exist on the device, and graphc takes no dependency on CUDA's libdevice.
float32 uses the project's Cephes approximations (``runtime/llvm/vecmath.py``, about 1 ulp);
float64 uses range reduction and series carried far enough for double precision on the reduced
range (exp: Taylor to degree 15 on |r| <= ln2/2; log: atanh series on |s| <= 0.172; sin/cos:
Taylor on |r| <= pi/4 after a three-part Cody-Waite reduction by pi/2; float32 sin and cos are
computed this way in double precision). erf is its Maclaurin series below |x| = 1 and the
Chebyshev-fitted erfc of Numerical Recipes above (relative error below 1.2e-7), in double
precision for both dtypes.
Special values follow libm: NaN propagates, exp overflows to inf, log(0) = -inf, log(x<0) = NaN.
"""

from __future__ import annotations

import math

from llvmlite import ir

from ..llvm import vecmath

F32, F64, I32, I64 = ir.FloatType(), ir.DoubleType(), ir.IntType(32), ir.IntType(64)


def _tanh_series() -> list[float]:
    """Taylor coefficients of tanh(x) / x in x**2, highest first: 2^2n (2^2n - 1) B_2n / (2n)!."""
    from fractions import Fraction as Fr

    bern = [Fr(1, 6), Fr(-1, 30), Fr(1, 42), Fr(-1, 30), Fr(5, 66), Fr(-691, 2730), Fr(7, 6), Fr(-3617, 510)]
    out = [float(4**n * (4**n - 1) * bn / math.factorial(2 * n)) for n, bn in enumerate(bern, 1)]
    return out[::-1]


_TANH_SERIES = _tanh_series()
# erf(x) / x in x**2, highest first: 2/sqrt(pi) (-1)^n / (n! (2n + 1)), n = 0..24
_ERF_SERIES = [2 / math.sqrt(math.pi) * (-1) ** n / (math.factorial(n) * (2 * n + 1)) for n in range(24, -1, -1)]


class DeviceMath:
    """Emits math for one builder; ``intrinsic(name, ty, nargs)`` declares LLVM intrinsics."""

    def __init__(self, builder: ir.IRBuilder, intrinsic):
        self.b = builder
        self.intrinsic = intrinsic

    def _c(self, ty, v: float):
        return ir.Constant(ty, v)

    def _poly(self, x, coeffs):
        ty = x.type
        acc = self._c(ty, coeffs[0])
        for c in coeffs[1:]:
            acc = self.b.fadd(self.b.fmul(acc, x), self._c(ty, c))
        return acc

    def floor(self, x):
        return self.b.call(self.intrinsic("llvm.floor", x.type, 1), [x])

    def fabs(self, x):
        return self.b.call(self.intrinsic("llvm.fabs", x.type, 1), [x])

    # ------------------------------------------------------------------ exp / log
    def exp(self, x):
        if x.type == F32:
            return vecmath.exp_f32(self.b, x, self.intrinsic("llvm.floor", F32, 1))
        b = self.b
        is_nan = b.fcmp_unordered("uno", x, x)
        xc = b.select(b.fcmp_ordered("<", x, self._c(F64, -746.0)), self._c(F64, -746.0), x)
        xc = b.select(b.fcmp_ordered(">", xc, self._c(F64, 710.0)), self._c(F64, 710.0), xc)
        n = self.floor(b.fadd(b.fmul(xc, self._c(F64, 1.4426950408889634)), self._c(F64, 0.5)))
        r = b.fsub(b.fsub(xc, b.fmul(n, self._c(F64, 6.93147180369123816490e-01))),
                   b.fmul(n, self._c(F64, 1.90821492927058770002e-10)))
        p = self._poly(r, [1.0 / math.factorial(k) for k in range(15, -1, -1)])
        ni = b.fptosi(n, I64)
        third = b.sdiv(ni, ir.Constant(I64, 3))  # scale in three steps so every factor is normal
        rest = b.sub(ni, b.add(third, third))
        y = b.fmul(b.fmul(b.fmul(p, self._pow2_f64(third)), self._pow2_f64(third)), self._pow2_f64(rest))
        return b.select(is_nan, x, y)

    def _pow2_f64(self, n):
        return self.b.bitcast(self.b.shl(self.b.add(n, ir.Constant(I64, 1023)), ir.Constant(I64, 52)), F64)

    def log(self, x):
        if x.type == F32:
            return vecmath.log_f32(self.b, x)
        b = self.b
        tiny = b.fcmp_ordered("<", x, self._c(F64, 2.2250738585072014e-308))
        xs = b.select(tiny, b.fmul(x, self._c(F64, 2.0**54)), x)
        bits = b.bitcast(xs, I64)
        e = b.sub(b.and_(b.lshr(bits, ir.Constant(I64, 52)), ir.Constant(I64, 0x7FF)), ir.Constant(I64, 1022))
        e = b.select(tiny, b.sub(e, ir.Constant(I64, 54)), e)
        m = b.bitcast(b.or_(b.and_(bits, ir.Constant(I64, 0x800FFFFFFFFFFFFF)), ir.Constant(I64, 0x3FE0000000000000)), F64)
        small = b.fcmp_ordered("<", m, self._c(F64, 0.7071067811865476))  # m in [sqrt(.5), sqrt(2))
        m = b.select(small, b.fadd(m, m), m)
        e = b.select(small, b.sub(e, ir.Constant(I64, 1)), e)
        f = b.fsub(m, self._c(F64, 1.0))
        s = b.fdiv(f, b.fadd(f, self._c(F64, 2.0)))
        z = b.fmul(s, s)
        series = self._poly(z, [1.0 / k for k in range(23, 0, -2)])
        logm = b.fmul(b.fmul(s, series), self._c(F64, 2.0))
        ef = b.sitofp(e, F64)
        out = b.fadd(b.fadd(b.fmul(ef, self._c(F64, 1.90821492927058770002e-10)), logm),
                     b.fmul(ef, self._c(F64, 6.93147180369123816490e-01)))
        out = b.select(b.fcmp_ordered("==", x, self._c(F64, float("inf"))), x, out)
        out = b.select(b.fcmp_ordered("==", x, self._c(F64, 0.0)), self._c(F64, float("-inf")), out)
        return b.select(b.fcmp_unordered("ult", x, self._c(F64, 0.0)), self._c(F64, float("nan")), out)

    # ------------------------------------------------------------------ built from exp / log
    def tanh(self, x):
        if x.type == F32:
            return vecmath.tanh_f32(self.b, x, self.intrinsic("llvm.floor", F32, 1), self.intrinsic("llvm.fabs", F32, 1))
        b = self.b
        ax = self.fabs(x)
        z = b.fmul(x, x)
        # |x| < 0.125: odd Taylor series (degree 15); elsewhere 1 - 2 / (exp(2|x|) + 1)
        small = b.fmul(x, self._poly(z, _TANH_SERIES))
        e = self.exp(b.fmul(ax, self._c(F64, 2.0)))
        big = b.fsub(self._c(F64, 1.0), b.fdiv(self._c(F64, 2.0), b.fadd(e, self._c(F64, 1.0))))
        big = b.select(b.fcmp_ordered("<", x, self._c(F64, 0.0)), b.fneg(big), big)
        return b.select(b.fcmp_ordered("<", ax, self._c(F64, 0.125)), small, big)

    def sigmoid(self, x):
        one = self._c(x.type, 1.0)
        return self.b.fdiv(one, self.b.fadd(one, self.exp(self.b.fneg(x))))

    def pow(self, x, y):
        """x ** y as exp(y log|x|), with libm's signs and special cases for x <= 0."""
        b = self.b
        ty = x.type
        zero, one = self._c(ty, 0.0), self._c(ty, 1.0)
        mag = self.exp(b.fmul(y, self.log(self.fabs(x))))
        y_int = b.fcmp_ordered("==", self.floor(y), y)
        half = b.fmul(y, self._c(ty, 0.5))
        y_odd = b.and_(y_int, b.fcmp_ordered("!=", self.floor(half), half))
        neg = b.fcmp_ordered("<", x, zero)
        signed = b.select(y_odd, b.fneg(mag), mag)
        out = b.select(neg, b.select(y_int, signed, self._c(ty, float("nan"))), mag)
        out = b.select(b.fcmp_ordered("==", y, zero), one, out)  # x ** 0 == 1, even for NaN
        return b.select(b.fcmp_ordered("==", x, one), one, out)  # 1 ** y == 1, even for NaN

    def erf(self, x):
        if x.type == F32:  # computed in double precision, then rounded
            return self.b.fptrunc(self.erf(self.b.fpext(x, F64)), F32)
        b = self.b
        ty = x.type
        z = self.fabs(x)
        # |x| < 1: the Maclaurin series (no cancellation near 0); elsewhere 1 - erfc
        zz = b.fmul(x, x)
        series = b.fmul(x, self._poly(zz, _ERF_SERIES))
        t = b.fdiv(self._c(ty, 1.0), b.fadd(self._c(ty, 1.0), b.fmul(z, self._c(ty, 0.5))))
        poly = self._poly(t, [0.17087277, -0.82215223, 1.48851587, -1.13520398, 0.27886807, -0.18628806,
                              0.09678418, 0.37409196, 1.00002368, -1.26551223])
        erfc = b.fmul(t, self.exp(b.fadd(b.fneg(b.fmul(z, z)), poly)))
        r = b.fsub(self._c(ty, 1.0), erfc)
        r = b.select(b.fcmp_ordered("<", x, self._c(ty, 0.0)), b.fneg(r), r)
        r = b.select(b.fcmp_ordered("<", z, self._c(ty, 1.0)), series, r)
        return b.select(b.fcmp_unordered("uno", x, x), x, r)

    # ------------------------------------------------------------------ sin / cos
    def _reduce_half_pi(self, x):
        """(r, q): x = q * pi/2 + r with |r| <= pi/4 and q an integer (as i64)."""
        b = self.b
        ty = x.type
        q = self.floor(b.fadd(b.fmul(x, self._c(ty, 0.6366197723675814)), self._c(ty, 0.5)))
        parts = (1.5707963267341256, 6.077100506506192e-11, 2.0222662487959506e-21)
        r = x
        for p in parts:
            r = b.fsub(r, b.fmul(q, self._c(ty, p)))
        return r, b.fptosi(q, I64)

    def _sin_cos_poly(self, r):
        b = self.b
        z = b.fmul(r, r)
        sin_c = [(-1) ** k / math.factorial(2 * k + 1) for k in range(8, -1, -1)]
        cos_c = [(-1) ** k / math.factorial(2 * k) for k in range(8, -1, -1)]
        return b.fmul(r, self._poly(z, sin_c)), self._poly(z, cos_c)

    def sin(self, x):
        return self._sincos(x, 0)

    def cos(self, x):
        return self._sincos(x, 1)

    def _sincos(self, x, shift: int):
        b = self.b
        if x.type == F32:  # the three-part reduction needs double precision constants
            return b.fptrunc(self._sincos(b.fpext(x, F64), shift), F32)
        r, q = self._reduce_half_pi(x)
        s, c = self._sin_cos_poly(r)
        quad = b.and_(b.add(q, ir.Constant(I64, shift)), ir.Constant(I64, 3))
        pick_cos = b.icmp_unsigned("==", b.and_(quad, ir.Constant(I64, 1)), ir.Constant(I64, 1))
        v = b.select(pick_cos, c, s)
        negate = b.icmp_unsigned("==", b.and_(quad, ir.Constant(I64, 2)), ir.Constant(I64, 2))
        out = b.select(negate, b.fneg(v), v)
        bad = b.fcmp_unordered("uno", b.fsub(x, x), self._c(x.type, 0.0))  # NaN or +-inf
        return b.select(bad, self._c(x.type, float("nan")), out)
