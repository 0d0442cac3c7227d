"""The benchmark's models as JAX functions over the same weights (``models.WEIGHT_SHAPES`` order).

JAX is optional: nothing here is imported unless JAX is. The train step writes out PyTorch's
SGD with momentum (``buf = momentum * buf + grad; p -= lr * buf``; a zero buffer makes the first
step PyTorch's, which sets ``buf = grad``).
"""

from __future__ import annotations

from .models import LR, MOMENTUM, initial_weights


def why_unavailable() -> str | None:
    """None when JAX can be used here, else why not."""
    try:
        import jax  # noqa: F401
    except ImportError:
        return "JAX is not installed"
    except Exception as e:  # a broken install
        return f"JAX does not import: {type(e).__name__}: {(str(e).splitlines() or [''])[0][:120]}"
    return None


def apply_fn(kind: str):
    """``apply(params, x) -> logits``; ``params`` is a list in state_dict order."""
    import jax
    import jax.numpy as jnp
    from jax import lax

    def linear(x, w, b):
        return x @ w.T + b

    def pool(h):
        return lax.reduce_window(h, -jnp.inf, lax.max, (1, 1, 2, 2), (1, 1, 2, 2), "VALID")

    def conv(x, w, b, pad):
        h = lax.conv_general_dilated(x, w, (1, 1), [(pad, pad), (pad, pad)],
                                     dimension_numbers=("NCHW", "OIHW", "NCHW"))
        return h + b[None, :, None, None]

    def mlp_apply(p, x):
        h = jax.nn.relu(linear(x, p[0], p[1]))
        h = jax.nn.relu(linear(h, p[2], p[3]))
        return linear(h, p[4], p[5])

    def lenet_apply(p, x):
        h = pool(jax.nn.relu(conv(x, p[0], p[1], 2)))
        h = pool(jax.nn.relu(conv(h, p[2], p[3], 0)))
        h = h.reshape(h.shape[0], -1)
        h = jax.nn.relu(linear(h, p[4], p[5]))
        h = jax.nn.relu(linear(h, p[6], p[7]))
        return linear(h, p[8], p[9])

    return mlp_apply if kind == "mlp" else lenet_apply


def train_step_fn(kind: str):
    """A jitted ``step(params, bufs, x, y) -> (params, bufs, loss)``."""
    import jax
    import jax.numpy as jnp

    apply = apply_fn(kind)

    def loss_fn(params, x, y):
        logits = apply(params, x)
        lse = jax.nn.logsumexp(logits, axis=1)
        return jnp.mean(lse - jnp.take_along_axis(logits, y[:, None], axis=1)[:, 0])

    def step(params, bufs, x, y):
        loss, grads = jax.value_and_grad(loss_fn)(params, x, y)
        bufs = [MOMENTUM * b + g for b, g in zip(bufs, grads)]
        params = [p - LR * b for p, b in zip(params, bufs)]
        return params, bufs, loss

    return jax.jit(step, donate_argnums=(0, 1))


def params(kind: str, seed: int = 0) -> list:
    import jax.numpy as jnp

    return [jnp.asarray(v) for v in initial_weights(kind, seed).values()]
