"""utils.stats: the block bootstrap's intervals against what theory says they should be."""
import numpy as np
import pytest

from utils.stats import block_bootstrap_ci


def ar1(n, phi, rng):
    """x_t = phi x_{t-1} + e_t with standard normal e_t (started in its stationary law)."""
    e = rng.standard_normal(n)
    x = np.empty(n)
    x[0] = e[0] / np.sqrt(1 - phi ** 2)
    for t in range(1, n):
        x[t] = phi * x[t - 1] + e[t]
    return x


def test_iid_values_give_the_normal_theory_interval():
    rng = np.random.default_rng(0)
    x = rng.normal(3.0, 2.0, size=40_000)
    lo, hi = block_bootstrap_ci(x, block=1, n_resamples=4000, seed=1)
    half = 1.96 * 2.0 / np.sqrt(len(x))                       # the textbook interval's half-width
    assert lo < x.mean() < hi
    np.testing.assert_allclose(hi - lo, 2 * half, rtol=0.1)


def test_blocks_widen_the_interval_of_dependent_values_to_the_long_run_variance():
    rng = np.random.default_rng(2)
    phi, n = 0.8, 60_000
    x = ar1(n, phi, rng)
    sd_mean = 1 / (1 - phi) / np.sqrt(n)                      # long-run sd of an AR(1) mean
    lo1, hi1 = block_bootstrap_ci(x, block=1, seed=3)
    lo, hi = block_bootstrap_ci(x, block=300, seed=3)
    np.testing.assert_allclose(hi - lo, 2 * 1.96 * sd_mean, rtol=0.2)
    assert (hi - lo) > 2 * (hi1 - lo1)                        # single positions: far too narrow


def test_the_interval_covers_the_true_mean_about_as_often_as_it_claims():
    rng = np.random.default_rng(4)
    covered = 0
    for rep in range(150):
        x = ar1(4000, 0.5, rng)
        lo, hi = block_bootstrap_ci(x, block=50, n_resamples=400, level=0.9, seed=rep)
        covered += lo <= 0.0 <= hi
    assert 0.80 <= covered / 150 <= 0.97


def test_same_seed_same_interval_and_level_orders_them():
    x = np.random.default_rng(5).standard_normal(5000)
    assert block_bootstrap_ci(x, 100, seed=7) == block_bootstrap_ci(x, 100, seed=7)
    lo90, hi90 = block_bootstrap_ci(x, 100, level=0.9, seed=7)
    lo99, hi99 = block_bootstrap_ci(x, 100, level=0.99, seed=7)
    assert lo99 < lo90 < hi90 < hi99


@pytest.mark.parametrize("kw,match", [({"values": np.ones(10), "block": 10}, "at least 2 \\* block"),
                                      ({"values": np.array([1.0, np.inf] * 20)}, "finite"),
                                      ({"values": np.ones((5, 5))}, "1 dimensions"),
                                      ({"level": 1.0}, "level")])
def test_bad_input_is_named(kw, match):
    args = {"values": np.ones(100), "block": 5} | kw
    with pytest.raises(ValueError, match=match):
        block_bootstrap_ci(**args)
