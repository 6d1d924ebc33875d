"""Sensor kernels."""

import math

import numpy as np
import pytest

from pipeline import (
    SEED2020_TAUS,
    SENSORS,
    double_exponential_kernel,
    exponential_kernel,
    seed2020_kernel,
    sensor_kernel,
)

EXPECTED = {"GCaMP6s", "GCaMP6f", "GCaMP6m", "jGCaMP7f", "jGCaMP8s", "jGCaMP8m", "jGCaMP8f"}


def test_sensor_table_complete_and_consistent():
    assert set(SENSORS) == EXPECTED
    for _name, spec in SENSORS.items():
        assert spec["reference"] and isinstance(spec["reference"], str)
        assert math.isclose(spec["tau_decay_s"] * math.log(2), spec["t_half_decay_s"], rel_tol=1e-12)
        if spec["tau_rise_s"] is not None:
            assert spec["tau_rise_s"] < spec["tau_decay_s"]
    # slow > medium > fast within each family
    t = {k: v["t_half_decay_s"] for k, v in SENSORS.items()}
    assert t["GCaMP6s"] > t["GCaMP6m"] > t["GCaMP6f"]
    assert t["jGCaMP8s"] > t["jGCaMP8m"] > t["jGCaMP8f"]
    assert SEED2020_TAUS == {"GCaMP6s": 1.8, "GCaMP6f": 0.8}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_kernel_decays_to_half_at_t_half(name):
    spec = SENSORS[name]
    dt = spec["t_half_decay_s"] / 2000
    k = sensor_kernel(name, dt, normalize="peak")
    peak = int(np.argmax(k))
    half = peak + int(np.argmax(k[peak:] <= 0.5))
    t_half = (half - peak) * dt
    if spec["tau_rise_s"] is None:
        assert t_half == pytest.approx(spec["t_half_decay_s"], rel=1e-3)
    else:
        # tau = t1/2 / ln 2 ignores the rise term, which lengthens the
        # peak-to-half time by up to ~25 % (jGCaMP7f: slowest rise).
        assert t_half == pytest.approx(spec["t_half_decay_s"], rel=0.25)
        assert t_half >= spec["t_half_decay_s"]
        t_peak = peak * dt
        assert t_peak == pytest.approx(spec["time_to_peak_s"], rel=0.25)


def test_exponential_normalisation_and_length():
    k = exponential_kernel(0.5, 2.0)
    assert k.sum() == pytest.approx(1.0, abs=1e-15)
    # default length covers 5 tau
    assert len(k) == math.ceil(5 * 2.0 / 0.5) + 1
    raw = exponential_kernel(0.5, 2.0, normalize=None, n_frames=4)
    np.testing.assert_allclose(raw, np.exp(-np.arange(4) * 0.5 / 2.0))
    peak = exponential_kernel(0.5, 2.0, normalize="peak")
    assert peak.max() == 1.0
    assert len(exponential_kernel(10.0, 0.1)) == 2  # at least 2 frames
    with pytest.raises(ValueError, match="normalize"):
        exponential_kernel(0.5, 2.0, normalize="area")


def test_exponential_delay_fractional():
    k = exponential_kernel(1.0, 2.0, delay_s=1.5, n_frames=6, normalize=None)
    t = np.arange(6.0)
    expected = np.where(t >= 1.5, np.exp(-(t - 1.5) / 2.0), 0.0)
    np.testing.assert_allclose(k, expected, rtol=1e-15)
    assert k[0] == k[1] == 0
    # an integer delay is a pure shift
    k0 = exponential_kernel(1.0, 2.0, n_frames=8, normalize=None)
    k2 = exponential_kernel(1.0, 2.0, n_frames=10, delay_s=2.0, normalize=None)
    np.testing.assert_allclose(k2[2:], k0, rtol=1e-15)
    with pytest.raises(ValueError, match="zero at every"):
        exponential_kernel(1.0, 2.0, n_frames=3, delay_s=5.0)


def test_double_exponential():
    k = double_exponential_kernel(0.01, 0.05, 0.5, normalize=None)
    t = np.arange(len(k)) * 0.01
    np.testing.assert_allclose(k, np.exp(-t / 0.5) - np.exp(-t / 0.05), atol=1e-15)
    t_peak = np.log(0.5 / 0.05) * 0.5 * 0.05 / (0.5 - 0.05)
    assert t[np.argmax(k)] == pytest.approx(t_peak, abs=0.01)
    assert double_exponential_kernel(0.01, 0.05, 0.5).sum() == pytest.approx(1.0)
    with pytest.raises(ValueError, match="smaller"):
        double_exponential_kernel(0.01, 0.5, 0.5)
    kd = double_exponential_kernel(0.01, 0.05, 0.5, delay_s=0.105, normalize=None)
    assert np.all(kd[:11] == 0) and kd[11] > 0


def test_sensor_kernel_dispatch_and_names():
    np.testing.assert_array_equal(
        sensor_kernel("gcamp6s", 1.0), exponential_kernel(1.0, SENSORS["GCaMP6s"]["tau_decay_s"])
    )
    k8 = sensor_kernel("JGCAMP8M", 0.01)
    spec = SENSORS["jGCaMP8m"]
    np.testing.assert_array_equal(k8, double_exponential_kernel(0.01, spec["tau_rise_s"], spec["tau_decay_s"]))
    assert k8[0] == 0.0  # rises from zero
    with pytest.raises(ValueError, match="GCaMP6s.*jGCaMP8f"):
        sensor_kernel("GCaMP3", 1.0)


def test_seed2020_kernel_is_notebook_kernel():
    n, dt = 420, 1.0
    time = np.arange(n) * dt
    decay = np.exp(-time / 1.8)
    np.testing.assert_array_equal(seed2020_kernel("GCaMP6s", dt, n), decay / decay.sum())
    decay = np.exp(-time / 0.8)
    np.testing.assert_array_equal(seed2020_kernel("gcamp6f", dt, n), decay / decay.sum())
    with pytest.raises(ValueError, match="seed2020"):
        seed2020_kernel("GCaMP6m", dt, n)
