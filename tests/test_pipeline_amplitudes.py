"""Response amplitudes: correct version vs the reproduced notebook bug."""

import numpy as np
import pytest

from pipeline import response_amplitudes, seed2020_response_amplitudes


def notebook_mean_for_timepoints(dff, regs, how_long):
    """Loop version of the published helper (regs: per regressor (frames,))."""
    n_slots = len(regs[0][0])
    res = np.zeros((dff.shape[0], len(regs), n_slots))
    for ridx, reg in enumerate(regs):
        for tidx, tp in enumerate(reg[0]):
            res[:, ridx, tidx] = dff[:, tp : tp + how_long].mean(-1)
    return res.mean(-1)


@pytest.fixture
def dff():
    return np.random.default_rng(0).normal(size=(15, 100))


def test_correct_amplitudes(dff):
    onsets = [np.array([3, 30, 60, 97]), np.array([10, 50]), np.array([])]
    amp = response_amplitudes(dff, onsets, window_frames=5)
    expected0 = np.mean([dff[:, f : f + 5].mean(1) for f in onsets[0]], axis=0)
    expected1 = np.mean([dff[:, f : f + 5].mean(1) for f in onsets[1]], axis=0)
    np.testing.assert_allclose(amp[:, 0], expected0, rtol=1e-12)
    np.testing.assert_allclose(amp[:, 1], expected1, rtol=1e-12)
    assert np.isnan(amp[:, 2]).all()
    # window clipped at the end: frame 97 averages frames 97..99
    one = response_amplitudes(dff, [np.array([97])], window_frames=5)
    np.testing.assert_allclose(one[:, 0], dff[:, 97:].mean(1))


def test_seed_bug_reproduced_and_differs(dff):
    onsets = [np.array([3, 30, 60, 80]), np.array([10, 50]), np.array([20])]
    seed = seed2020_response_amplitudes(dff, onsets, window_frames=5)
    reference = notebook_mean_for_timepoints(dff, [(f,) for f in onsets], how_long=5)
    np.testing.assert_allclose(seed, reference, rtol=1e-12, atol=1e-15)
    correct = response_amplitudes(dff, onsets, window_frames=5)
    np.testing.assert_allclose(seed[:, 0], correct[:, 0], rtol=1e-12)
    # fewer presentations than the first regressor: zeros averaged in
    np.testing.assert_allclose(seed[:, 1], correct[:, 1] * 2 / 4, rtol=1e-12)
    np.testing.assert_allclose(seed[:, 2], correct[:, 2] * 1 / 4, rtol=1e-12)
    assert not np.allclose(seed[:, 1], correct[:, 1])


def test_seed_bug_more_onsets_than_first_raises(dff):
    with pytest.raises(ValueError, match="IndexError"):
        seed2020_response_amplitudes(dff, [np.array([1]), np.array([5, 9])])


def test_amplitude_validation(dff):
    with pytest.raises(ValueError, match=r"\[0, 100\)"):
        response_amplitudes(dff, [np.array([100])])
    with pytest.raises(ValueError, match="window_frames"):
        response_amplitudes(dff, [np.array([1])], window_frames=0)
    with pytest.raises(ValueError, match="empty"):
        response_amplitudes(dff, [])
