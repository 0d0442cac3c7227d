"""Random numbers drawn inside compiled functions: rand, randn, randint, bernoulli, normal and
their _like forms become the counter-based rand_uniform op (graphc/_traced_random.py)."""

from __future__ import annotations

import numpy as np
import pytest
from export_helpers import needs_cc, run

import graphc
from graphc import nn, optim
from graphc.nn import functional as F

N = 40_000


@graphc.compile
def _draws(x):
    return (graphc.rand(N), graphc.randn(N), graphc.randint(3, 10, (N,)), graphc.bernoulli(graphc.full((N,), 0.3)),
            graphc.normal(2.0, 3.0, (N,)), graphc.randn_like(x), graphc.rand_like(x, dtype=graphc.float64),
            graphc.randn(N, dtype=graphc.float64), graphc.randint(0, 2**40, (1000,)), graphc.randint_like(x, 5),
            graphc.bernoulli(x.sigmoid()), graphc.bernoulli(graphc.zeros(N), 0.75))


def test_the_distributions_dtypes_and_shapes():
    graphc.manual_seed(0)
    x = graphc.zeros(5, 7)
    u, z, k, b, n, zl, ul, z64, big, kl, bx, bp = (t.numpy() for t in _draws(x))
    assert u.dtype == np.float32 and 0 <= u.min() and u.max() < 1 and abs(u.mean() - 0.5) < 0.01
    assert z.dtype == np.float32 and abs(z.mean()) < 0.02 and abs(z.std() - 1) < 0.02
    assert abs(np.mean(np.abs(z) > 1.96) - 0.05) < 0.005  # the tails too, not only two moments
    assert k.dtype == np.int64 and k.min() == 3 and k.max() == 9
    counts = np.bincount(k - 3) / N
    assert np.all(np.abs(counts - 1 / 7) < 0.01)
    assert b.dtype == np.float32 and set(np.unique(b)) == {0.0, 1.0} and abs(b.mean() - 0.3) < 0.01
    assert abs(n.mean() - 2) < 0.05 and abs(n.std() - 3) < 0.05
    assert zl.shape == (5, 7) and zl.dtype == np.float32 and ul.dtype == np.float64 and ul.shape == (5, 7)
    assert z64.dtype == np.float64 and abs(z64.std() - 1) < 0.02
    assert big.min() >= 0 and big.max() < 2**40 and big.max() > 2**39
    assert kl.dtype == np.float32 and set(np.unique(kl)) <= {0.0, 1.0, 2.0, 3.0, 4.0}
    assert set(np.unique(bx)) <= {0.0, 1.0} and abs(bp.mean() - 0.75) < 0.01


def test_every_call_draws_fresh_numbers_and_manual_seed_replays_them():
    x = graphc.zeros(5, 7)
    graphc.manual_seed(5)
    first = [t.numpy().copy() for t in _draws(x)]
    second = [t.numpy().copy() for t in _draws(x)]
    assert not np.array_equal(first[1], second[1]) and not np.array_equal(first[2], second[2])
    graphc.manual_seed(5)
    again = [t.numpy() for t in _draws(x)]
    for a, b in zip(first, again):
        np.testing.assert_array_equal(a, b)
    # the two normals of one call are independent draws, not one draw twice
    assert not np.array_equal(first[1][:1000], first[7][:1000].astype(np.float32))


def test_a_vae_step_with_the_reparameterisation_trick_trains():
    class VAE(nn.Module):
        def __init__(self):
            super().__init__()
            self.enc, self.dec = nn.Linear(8, 4), nn.Linear(2, 8)

        def forward(self, x):
            h = self.enc(x)
            mu, logvar = h[:, :2], h[:, 2:]
            std = graphc.exp(0.5 * logvar)
            return self.dec(mu + graphc.randn_like(std) * std), mu, logvar

    graphc.manual_seed(0)
    model = VAE()
    opt = optim.Adam(model.parameters(), 1e-2)
    x = graphc.randn(64, 8)

    def loss_of(x):
        rec, mu, logvar = model(x)
        return F.mse_loss(rec, x, reduction="sum") - 0.5 * graphc.sum(1 + logvar - mu.pow(2) - logvar.exp())

    @graphc.compile
    def step(x):
        opt.zero_grad()
        loss = loss_of(x)
        loss.backward()
        opt.step()
        return loss

    losses = [float(step(x)) for _ in range(60)]
    assert step.compile_count == 2
    assert np.mean(losses[-10:]) < 0.8 * np.mean(losses[:10])


def test_a_diffusion_step_draws_timesteps_and_noise_inside():
    T = 50
    alphas_bar = graphc.tensor(np.cumprod(1 - np.linspace(1e-4, 0.02, T)).astype(np.float32))
    graphc.manual_seed(0)
    net = nn.Linear(9, 8)
    opt = optim.SGD(net.parameters(), 0.05)
    x0 = graphc.randn(32, 8)

    @graphc.compile
    def step(x0):
        opt.zero_grad()
        t = graphc.randint(0, T, (x0.shape[0],))
        noise = graphc.randn_like(x0)
        ab = alphas_bar[t].unsqueeze(1)
        xt = ab.sqrt() * x0 + (1 - ab).sqrt() * noise
        loss = F.mse_loss(net(graphc.cat([xt, t.float().unsqueeze(1) / T], 1)), noise)
        loss.backward()
        opt.step()
        return loss, t

    ts = np.concatenate([step(x0)[1].numpy() for _ in range(20)])
    assert ts.min() >= 0 and ts.max() < T and len(np.unique(ts)) > 40


def test_what_stays_refused_says_what_works():
    @graphc.compile
    def leaf(x):
        return x + graphc.randn(3, requires_grad=True)

    with pytest.raises(graphc.TraceError, match="outside the compiled function"):
        leaf(graphc.zeros(3))

    @graphc.compile
    def perm(x):
        return x[graphc.randperm(3)]

    with pytest.raises(graphc.TraceError, match="randperm.*draw its numbers once") as err:
        perm(graphc.zeros(3))
    assert "randn" in err.value.fix


@needs_cc
def test_the_exported_step_draws_the_numbers_the_compiled_step_draws(tmp_path):
    graphc.manual_seed(3)
    model = nn.Linear(4, 4)
    opt = optim.SGD(model.parameters(), lr=0.1)

    @graphc.compile
    def step(x):
        opt.zero_grad()
        loss = (model(x + 0.1 * graphc.randn_like(x)) - graphc.rand(4)).pow(2).mean()
        loss.backward()
        opt.step()
        return loss

    x = graphc.randn(8, 4)
    graphc.export({"step": step}, tmp_path, "noisy", example_inputs={"step": (x,)})
    x.numpy().tofile(tmp_path / "x.bin")
    result = run([tmp_path / "noisy", "step", "-n", "3", tmp_path / "x.bin", tmp_path / "loss.bin"])
    got = [float(line.split("=")[1]) for line in result.stdout.splitlines()]
    np.testing.assert_allclose(got, [step(x).item() for _ in range(3)], rtol=1e-4, atol=1e-6)


def test_bisect_checks_a_function_that_draws_random_numbers_against_its_traced_graph():
    model = nn.Linear(4, 4)
    report = graphc.bisect(lambda x: model(x + graphc.randn_like(x)).sum(), graphc.randn(3, 4))
    assert report.first_bad is None
    assert "the traced graph (it calls graphc.randn()" in str(report)
    # dropout draws the same numbers eagerly: eager mode stays the oracle
    report = graphc.bisect(lambda x: nn.functional.dropout(model(x)).sum(), graphc.randn(3, 4))
    assert report.first_bad is None and report.oracle == "eager mode"
