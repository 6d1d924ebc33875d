"""Calcium-indicator impulse-response kernels for regressor convolution.

Kernels are 1-D arrays sampled at ``t = k * frame_period_s`` (k = 0, 1, ...),
i.e. at the frame times following a stimulus onset frame.

Sensor constants
----------------
:data:`SENSORS` lists published single-action-potential (1 AP) kinetics.
Papers report the *half-decay time* t1/2 (time from the peak to half the
peak); for a single exponential ``exp(-t / tau)`` this is ``tau * ln 2``, so
every decay constant here is derived as ``tau_decay_s = t_half_decay_s /
ln 2``. Likewise the rise constant of a double exponential is derived from the
reported half-rise time as ``tau_rise_s = t_half_rise_s / ln 2`` (exact for
the rising factor ``1 - exp(-t / tau_rise)``, a good approximation when
tau_rise << tau_decay). Because the decay derivation ignores the rise term,
the peak-to-half time of a double-exponential kernel exceeds the published
t1/2 by 10-25 % (most for jGCaMP7f).

Values differ between preparations (cultured neurons, mouse cortex in vivo,
zebrafish at 28 degC) by up to a factor ~2, so treat them as defaults; the
reference string says where each number comes from and flags approximate
ones. These are 1-AP kernels: stimulus-evoked responses are usually bursts
and last longer.
"""

from __future__ import annotations

import math

import numpy as np

from ._validation import check_positive_float, check_positive_int

__all__ = [
    "SENSORS",
    "SEED2020_TAUS",
    "exponential_kernel",
    "double_exponential_kernel",
    "sensor_kernel",
    "seed2020_kernel",
    "canonical_sensor",
    "sensor_info",
    "check_sensor",
    "make_kernel",
    "kernel_length_s",
]

_LN2 = math.log(2.0)

_CHEN2013 = "Chen et al. 2013, Nature 499:295"
_ZHANG2023 = "Zhang et al. 2023, Nature 615:884"
_DANA2019 = "Dana et al. 2019, Nat Methods 16:649"


def _sensor(t_half_decay_s, t_half_rise_s, time_to_peak_s, reference):
    return dict(
        tau_decay_s=t_half_decay_s / _LN2,
        tau_rise_s=None if t_half_rise_s is None else t_half_rise_s / _LN2,
        t_half_decay_s=t_half_decay_s,
        t_half_rise_s=t_half_rise_s,
        time_to_peak_s=time_to_peak_s,
        reference=reference,
    )


#: Published 1-AP kinetics per sensor. Keys: ``tau_decay_s`` (= t1/2 / ln 2),
#: ``tau_rise_s`` (= half-rise / ln 2, or None when no reliable rise figure
#: is available: the kernel is then a pure exponential), ``t_half_decay_s``,
#: ``t_half_rise_s``, ``time_to_peak_s`` (informational) and ``reference``.
SENSORS = {
    "GCaMP6s": _sensor(
        0.55,
        None,
        None,
        f"{_CHEN2013}: in vivo mouse V1 L2/3, 1 AP half-decay time "
        "(approximate, ~0.55 s); no rise constant used (reported rise "
        "~100-150 ms is below typical frame periods)",
    ),
    "GCaMP6m": _sensor(
        0.27,
        None,
        None,
        f"{_CHEN2013}: in vivo mouse V1 L2/3, 1 AP half-decay time "
        "(approximate, ~0.27 s); no rise constant used (reported rise "
        "~75-100 ms)",
    ),
    "GCaMP6f": _sensor(
        0.142,
        None,
        None,
        f"{_CHEN2013}: in vivo mouse V1 L2/3, 1 AP half-decay time "
        "(approximate, ~142 ms); no rise constant used (reported rise "
        "~50-75 ms)",
    ),
    "jGCaMP7f": _sensor(
        0.1819,
        0.0248,
        0.0995,
        f"{_DANA2019} introduced jGCaMP7f; numbers are its 1 AP control "
        f"measurement in {_ZHANG2023} (cultured neurons, field stimulation): "
        "half-rise 24.8 ms, time to peak 99.5 ms, half-decay 181.9 ms",
    ),
    "jGCaMP8s": _sensor(
        0.3067,
        0.0101,
        0.0570,
        f"{_ZHANG2023}: 1 AP (cultured neurons, field stimulation) "
        "half-rise 10.1 ms, time to peak 57.0 ms, half-decay 306.7 ms",
    ),
    "jGCaMP8m": _sensor(
        0.1183,
        0.0071,
        0.0290,
        f"{_ZHANG2023}: 1 AP (cultured neurons, field stimulation) "
        "half-rise 7.1 ms, time to peak 29.0 ms, half-decay 118.3 ms",
    ),
    "jGCaMP8f": _sensor(
        0.0674,
        0.0071,
        0.0248,
        f"{_ZHANG2023}: 1 AP (cultured neurons, field stimulation) "
        "half-rise 7.1 ms, time to peak 24.8 ms, half-decay 67.4 ms",
    ),
}

#: Decay constants (s) hard-coded in the 2020 notebook's kernels.
SEED2020_TAUS = {"GCaMP6s": 1.8, "GCaMP6f": 0.8}

_NORMALIZE = ("sum", "peak", None)


def canonical_sensor(sensor):
    """Return the canonical spelling of a sensor name (case-insensitive).

    Raises
    ------
    ValueError
        If the sensor is unknown; the message lists the known sensors.
    """
    if isinstance(sensor, str):
        for name in SENSORS:
            if name.lower() == sensor.strip().lower():
                return name
    raise ValueError(f"unknown sensor {sensor!r}; known sensors: {', '.join(SENSORS)}")


def sensor_info(name):
    """The sensor dict the stages take, for a sensor of :data:`SENSORS`.

    Returns ``{"name", "tau_decay_s", "tau_rise_s", "seed2020_tau_s"}``
    (``tau_rise_s`` / ``seed2020_tau_s`` None where unknown). The database
    layer builds the same dict from its sensor table, so a lab-added sensor
    works without being in :data:`SENSORS`.
    """
    name = canonical_sensor(name)
    spec = SENSORS[name]
    return dict(
        name=name,
        tau_decay_s=spec["tau_decay_s"],
        tau_rise_s=spec["tau_rise_s"],
        seed2020_tau_s=SEED2020_TAUS.get(name),
    )


def check_sensor(sensor):
    """Validate a sensor dict (see :func:`sensor_info`); a str is looked up.

    Returns a new dict with float/None values; ValueError names the key.
    """
    if isinstance(sensor, str):
        return sensor_info(sensor)
    if not isinstance(sensor, dict):
        raise ValueError(
            "sensor must be a dict with keys name, tau_decay_s, tau_rise_s, "
            f"seed2020_tau_s (or a known sensor name), got {sensor!r}"
        )
    keys = ("name", "tau_decay_s", "tau_rise_s", "seed2020_tau_s")
    unknown = set(sensor) - set(keys)
    if unknown or "name" not in sensor:
        raise ValueError(f"sensor dict needs 'name' and may have {keys[1:]}; got keys {sorted(sensor)}")
    out = {"name": str(sensor["name"])}
    for key in keys[1:]:
        value = sensor.get(key)
        out[key] = None if value is None else check_positive_float(value, f"sensor {out['name']!r} {key}")
    if out["tau_rise_s"] is not None and out["tau_decay_s"] is not None and not out["tau_rise_s"] < out["tau_decay_s"]:
        raise ValueError(f"sensor {out['name']!r}: tau_rise_s must be < tau_decay_s")
    return out


def make_kernel(frame_period_s, tau_decay_s, tau_rise_s=None, *, delay_s=0.0, normalize="peak"):
    """Exponential kernel, or double exponential if ``tau_rise_s`` > 0.

    The default length covers ``delay_s + 5 * tau_decay_s``.
    """
    if tau_rise_s:
        return double_exponential_kernel(frame_period_s, tau_rise_s, tau_decay_s, delay_s=delay_s, normalize=normalize)
    return exponential_kernel(frame_period_s, tau_decay_s, delay_s=delay_s, normalize=normalize)


def kernel_length_s(tau_decay_s, delay_s=0.0):
    """How long a kernel's response lasts: ``delay + 3 tau`` (5 % left)."""
    return float(delay_s) + 3.0 * float(tau_decay_s)


def _n_frames(n_frames, frame_period_s, tau_s, delay_s):
    if n_frames is None:
        # Long enough for the kernel to decay to exp(-5) ~ 0.7 % of its peak.
        return max(2, int(math.ceil((delay_s + 5.0 * tau_s) / frame_period_s)) + 1)
    return check_positive_int(n_frames, "n_frames")


def _normalise(kernel, normalize):
    if normalize not in _NORMALIZE:
        raise ValueError(f"normalize must be one of {_NORMALIZE}, got {normalize!r}")
    if normalize is None:
        return kernel
    scale = kernel.sum() if normalize == "sum" else kernel.max()
    if not scale > 0:
        raise ValueError("kernel is zero at every sampled frame (delay_s beyond the kernel length?); cannot normalise")
    return kernel / scale


def _shifted_times(frame_period_s, n_frames, delay_s):
    """Frame times minus the delay; negative entries are before the onset."""
    t = np.arange(n_frames) * frame_period_s
    return t - delay_s if delay_s else t


def exponential_kernel(frame_period_s, tau_decay_s, *, n_frames=None, delay_s=0.0, normalize="sum"):
    """Single-exponential kernel ``exp(-(t - delay) / tau)`` for t >= delay.

    Parameters
    ----------
    frame_period_s : float
        Time between frames (s).
    tau_decay_s : float
        Decay time constant (s).
    n_frames : int, optional
        Kernel length. Default: enough frames to cover ``delay_s + 5 *
        tau_decay_s`` (at least 2).
    delay_s : float, default 0
        Onset delay (s); the kernel is zero before it. Fractional delays are
        sampled exactly (``exp(-(t - delay) / tau)`` at frame times t >=
        delay).
    normalize : {"sum", "peak", None}, default "sum"
        Scale to unit sum (so a convolved 0/1 regressor keeps its area),
        unit maximum, or leave unscaled.

    Returns
    -------
    kernel : ndarray of shape (n_frames,), float64
    """
    frame_period_s = check_positive_float(frame_period_s, "frame_period_s")
    tau_decay_s = check_positive_float(tau_decay_s, "tau_decay_s")
    delay_s = check_positive_float(delay_s, "delay_s", allow_zero=True)
    n_frames = _n_frames(n_frames, frame_period_s, tau_decay_s, delay_s)
    t = _shifted_times(frame_period_s, n_frames, delay_s)
    kernel = np.where(t >= 0, np.exp(-np.maximum(t, 0.0) / tau_decay_s), 0.0)
    return _normalise(kernel, normalize)


def double_exponential_kernel(frame_period_s, tau_rise_s, tau_decay_s, *, n_frames=None, delay_s=0.0, normalize="sum"):
    """Rise-and-decay kernel ``exp(-t'/tau_decay) - exp(-t'/tau_rise)``.

    ``t' = t - delay_s`` for frame times t >= delay_s, zero before. The
    kernel is 0 at t' = 0, so with frame periods much longer than
    ``tau_rise_s`` the response appears one frame after the onset frame; use
    :func:`exponential_kernel` if the rise is not resolved.

    Parameters
    ----------
    frame_period_s : float
        Time between frames (s).
    tau_rise_s, tau_decay_s : float
        Rise and decay time constants (s); ``tau_rise_s < tau_decay_s``.
    n_frames, delay_s, normalize
        As in :func:`exponential_kernel` (default length covers 5 decay
        constants after the delay).

    Returns
    -------
    kernel : ndarray of shape (n_frames,), float64
    """
    frame_period_s = check_positive_float(frame_period_s, "frame_period_s")
    tau_rise_s = check_positive_float(tau_rise_s, "tau_rise_s")
    tau_decay_s = check_positive_float(tau_decay_s, "tau_decay_s")
    if not tau_rise_s < tau_decay_s:
        raise ValueError(f"tau_rise_s ({tau_rise_s}) must be smaller than tau_decay_s ({tau_decay_s})")
    delay_s = check_positive_float(delay_s, "delay_s", allow_zero=True)
    n_frames = _n_frames(n_frames, frame_period_s, tau_decay_s, delay_s)
    t = _shifted_times(frame_period_s, n_frames, delay_s)
    t_pos = np.maximum(t, 0.0)
    kernel = np.where(t >= 0, np.exp(-t_pos / tau_decay_s) - np.exp(-t_pos / tau_rise_s), 0.0)
    return _normalise(kernel, normalize)


def sensor_kernel(sensor, frame_period_s, *, n_frames=None, delay_s=0.0, normalize="sum"):
    """Kernel for a named sensor from :data:`SENSORS`.

    A double exponential if the sensor has a rise constant, else a single
    exponential. Sensor names are case-insensitive (``"gcamp6s"``).

    Parameters
    ----------
    sensor : str
        One of the keys of :data:`SENSORS`.
    frame_period_s, n_frames, delay_s, normalize
        As in :func:`exponential_kernel`.

    Returns
    -------
    kernel : ndarray, float64

    Raises
    ------
    ValueError
        For an unknown sensor (the message lists the known ones).
    """
    spec = SENSORS[canonical_sensor(sensor)]
    if spec["tau_rise_s"] is None:
        return exponential_kernel(
            frame_period_s, spec["tau_decay_s"], n_frames=n_frames, delay_s=delay_s, normalize=normalize
        )
    return double_exponential_kernel(
        frame_period_s, spec["tau_rise_s"], spec["tau_decay_s"], n_frames=n_frames, delay_s=delay_s, normalize=normalize
    )


def seed2020_kernel(sensor, frame_period_s, n_frames):
    """The 2020 notebook's kernel, kept to reproduce the published analysis.

    ``exp(-t / tau)`` at every frame time of the *whole* recording
    (``t = arange(n_frames) * frame_period_s``), normalised to unit sum, with
    ``tau`` from :data:`SEED2020_TAUS` (1.8 s for GCaMP6s, 0.8 s for
    GCaMP6f).

    Parameters
    ----------
    sensor : {"GCaMP6s", "GCaMP6f"} or dict
        Case-insensitive name, or a sensor dict (:func:`sensor_info`) whose
        ``seed2020_tau_s`` is set.
    frame_period_s : float
        Time between frames (s).
    n_frames : int
        Number of frames of the recording.

    Returns
    -------
    kernel : ndarray of shape (n_frames,), float64
    """
    if isinstance(sensor, dict):
        info = check_sensor(sensor)
    else:
        name = canonical_sensor(sensor)
        info = dict(name=name, seed2020_tau_s=SEED2020_TAUS.get(name))
    if info["seed2020_tau_s"] is None:
        raise ValueError(
            f"the seed2020 kernel exists only for sensors with a notebook "
            f"tau ({', '.join(SEED2020_TAUS)}); got {info['name']!r}"
        )
    frame_period_s = check_positive_float(frame_period_s, "frame_period_s")
    n_frames = check_positive_int(n_frames, "n_frames")
    time = np.arange(n_frames) * frame_period_s
    decay = np.exp(-time / info["seed2020_tau_s"])
    return decay / decay.sum()
