"""Synthetic tectum recordings with known ground truth, built to be hard.

The generator is deliberately independent of the analysis: it never calls
:mod:`pipeline.kernels`, and its response kinetics are drawn at random, so a
method tuned to one kernel or one protocol can fail on it.

Model, per recording
--------------------
- Protocol (:mod:`pipeline.protocols`): stimuli, durations, onsets.
- Truth kinetics (``truth_kernel``): the calcium response to a spike burst is
  the burst convolved with ``exp(-t / tau_decay) - exp(-t / tau_rise)``.
  Unless given, ``tau_decay_s ~ U(1.5, 3)`` s (evoked tectal responses, not
  the ~0.8 s of a single action potential), ``tau_rise_s ~ U(0.1, 0.4)`` s,
  response ``latency_s ~ U(0.1, 0.5)`` s and burst adaptation
  ``adaptation_s ~ U(1, 3)`` s. ROIs fall into a few kinetic variants around
  these values (decay x lognormal(0, 0.15), latency +-0.1 s, rise and
  adaptation x lognormal(0, 0.2 / 0.3)).
- Evoked responses: an adapting burst (rate ``exp(-t / adaptation)``) from
  the latency after onset to the end of the stimulus, convolved with the
  ROI's kinetics, integrated over each frame's exposure, peak-normalised and
  scaled by the ROI's peak dF/F and a per-presentation factor U(0.7, 1.3).
- Classes (``truth``): a protocol class (responds to that class's stimuli;
  a class of several stimuli has one preferred stimulus, the others evoke
  60-100 %), ``"mixed"`` (two classes, gains 1 and 0.6-1.0),
  ``"inhibited"`` (tonically active at 2 x peak dF/F above rest, the
  activity suppressed by one class's stimuli: a dip of gain x peak dF/F
  relative to the tonic baseline) or ``"spontaneous"`` (no stimulus
  response). ``gains`` holds the signed gain of every ROI for every class.
- Spontaneous transients in every ROI: Poisson events (``spont_rate_hz``,
  default 0.03 Hz), each a burst of 0.5-2.5 s with the ROI's kinetics and a
  size of 0.2-0.7 x the ROI's evoked peak (:data:`SPONT_AMPLITUDE`, for a
  1 s burst). With them and the slow fluctuation the median lag-1
  autocorrelation of a spontaneous ROI's regression residual is ~0.38 at
  1 Hz and ~0.43 at 4 Hz.
- A slow fluctuation per ROI (AR(1), time constant 3-10 s, sd 0.5-1 x the
  shot noise at baseline), as from neuropil or movement.
- Fluorescence: baseline F0 log-uniform in [100, 1000]; optional bleaching
  (2-6 % exponential decay) and slow wander (~1 %); shot noise with variance
  proportional to F, scaled so that ``snr = peak response / noise sd`` at
  baseline; optional neuropil (0.7 x contaminates each trace).

Generation is vectorised over ROIs in fixed blocks of ROIs (so the random
stream does not depend on the machine).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ._validation import check_positive_float, check_positive_int
from .kernels import canonical_sensor
from .protocols import make_protocol, protocol_spec

__all__ = ["SyntheticRecording", "make_recording", "make_null_recording", "make_protocol", "NEUROPIL_FACTOR", "ROLES"]

NEUROPIL_FACTOR = 0.7
#: Truth labels besides the protocol's classes.
ROLES = ("mixed", "inhibited", "spontaneous")
DEFAULT_FRACTIONS = {"tuned": 0.45, "mixed": 0.1, "inhibited": 0.08, "spontaneous": 0.37}

#: Spontaneous transients: burst duration (s) and peak relative to the ROI's
#: evoked peak dF/F; slow fluctuation sd relative to the shot noise.
SPONT_DURATION_S = (0.5, 2.5)
SPONT_AMPLITUDE = (0.2, 0.7)
SLOW_SD = (0.5, 1.0)
#: Tonic activity of inhibited ROIs, in units of their peak dF/F.
INHIBITED_TONIC = 2.0
_N_VARIANTS = 6
_SUBSAMPLES = 4
_WANDER_COMPONENTS = 4
_BLOCK_ROIS = 4096


@dataclass(eq=False)
class SyntheticRecording:
    """A synthetic recording and its ground truth.

    Attributes
    ----------
    traces : ndarray (n_rois, n_frames), float32
        Raw fluorescence (neuropil contamination included if simulated).
    frame_period_s : float
    events : DataFrame
        stimulus, onset_s, duration_s.
    truth : ndarray of str (n_rois,)
        A class of the protocol, "mixed", "inhibited" or "spontaneous".
    sensor : str
        Label only: the kinetics are ``truth_kernel``, not the sensor's.
    positions : ndarray (n_rois, 3)
    groups : dict
        Class -> stimuli of that class (the protocol's regressor groups).
    gains : ndarray (n_rois, n_classes)
        Signed response gain of each ROI for each class (columns in the
        order of ``groups``).
    truth_kernel : dict
        tau_decay_s, tau_rise_s, latency_s, adaptation_s of the recording.
    neuropil : ndarray or None
    peak_dff : ndarray (n_rois,)
        Peak dF/F of the ROI's mean evoked response.
    snr : float
    protocol : str
    spont_rate_hz : float
    """

    traces: np.ndarray
    frame_period_s: float
    events: pd.DataFrame
    truth: np.ndarray
    sensor: str
    positions: np.ndarray
    groups: dict
    gains: np.ndarray
    truth_kernel: dict
    neuropil: np.ndarray | None = None
    peak_dff: np.ndarray | None = None
    snr: float = float("nan")
    protocol: str = "seed2020"
    spont_rate_hz: float = 0.03
    extra: dict = field(default_factory=dict)

    @property
    def classes(self):
        """The response classes of the recording (its regressor groups)."""
        return list(self.groups)


def _burst(t, duration, tau_adapt, tau_decay, tau_rise):
    """Calcium response to an adapting burst on [0, duration), closed form.

    Burst rate ``exp(-s / tau_adapt)`` convolved with ``exp(-t / tau_decay)
    - exp(-t / tau_rise)``; all arguments broadcast.
    """
    tp = np.maximum(t, 0.0)
    m = np.minimum(tp, duration)
    out = 0.0
    for sign, tau in ((1.0, tau_decay), (-1.0, tau_rise)):
        k = 1.0 / tau - 1.0 / tau_adapt
        # k -> 0 limit is m exp(-t / tau); nudge k to avoid 0/0 there.
        k = np.where(np.abs(k) < 1e-9, 1e-9, k)
        out = out + sign * (np.exp(-(tp - m) / tau - m / tau_adapt) - np.exp(-tp / tau)) / k
    return np.where(t > 0, out, 0.0)


def _frame_mean(t0, dt, cols, duration, tau_adapt, tau_decay, tau_rise):
    """Mean response over each frame's exposure; ``cols``: frame indices."""
    acc = 0.0
    for j in range(_SUBSAMPLES):
        t = (cols + (j + 0.5) / _SUBSAMPLES) * dt - t0
        acc = acc + _burst(t, duration, tau_adapt, tau_decay, tau_rise)
    return acc / _SUBSAMPLES


def _peak(duration, tau_adapt, tau_decay, tau_rise):
    t = np.linspace(0.0, duration + 10 * tau_decay + 5 * tau_adapt, 20001)
    return float(_burst(t, duration, tau_adapt, tau_decay, tau_rise).max())


def _draw_kernel(rng, truth_kernel):
    drawn = dict(
        tau_decay_s=rng.uniform(1.5, 3.0),
        tau_rise_s=rng.uniform(0.1, 0.4),
        latency_s=rng.uniform(0.1, 0.5),
        adaptation_s=rng.uniform(1.0, 3.0),
    )
    if truth_kernel is not None:
        unknown = set(truth_kernel) - set(drawn)
        if unknown:
            raise ValueError(f"truth_kernel has unknown keys {sorted(unknown)}; allowed: {sorted(drawn)}")
        drawn.update({k: float(v) for k, v in truth_kernel.items()})
    if not 0 < drawn["tau_rise_s"] < drawn["tau_decay_s"]:
        raise ValueError("truth_kernel needs 0 < tau_rise_s < tau_decay_s")
    return drawn


def _variants(rng, kernel):
    n = _N_VARIANTS
    return dict(
        tau_decay=kernel["tau_decay_s"] * np.exp(rng.normal(0, 0.15, n)),
        tau_rise=kernel["tau_rise_s"] * np.exp(rng.normal(0, 0.2, n)),
        latency=np.maximum(kernel["latency_s"] + rng.uniform(-0.1, 0.1, n), 0.0),
        adapt=kernel["adaptation_s"] * np.exp(rng.normal(0, 0.3, n)),
    )


def _fractions(fractions, classes):
    if fractions is None:
        fractions = dict(DEFAULT_FRACTIONS)
        if len(classes) < 2:  # a single class cannot be mixed
            fractions["tuned"] += fractions.pop("mixed")
    allowed = set(classes) | set(ROLES) | {"tuned"}
    unknown = set(fractions) - allowed
    if unknown:
        raise ValueError(f"unknown classes in fractions: {sorted(unknown)}; allowed: {sorted(allowed)}")
    frac = {c: float(fractions.get(c, 0.0)) for c in classes}
    tuned = float(fractions.get("tuned", 0.0))
    for c in classes:
        frac[c] += tuned / len(classes)
    for r in ROLES:
        frac[r] = float(fractions.get(r, 0.0))
    values = np.array(list(frac.values()))
    if (values < 0).any() or not np.isfinite(values).all():
        raise ValueError(f"fractions must be finite and >= 0, got {fractions}")
    if not math.isclose(values.sum(), 1.0, abs_tol=1e-6):
        raise ValueError(f"fractions must sum to 1, got {values.sum():g}")
    if frac["mixed"] > 0 and len(classes) < 2:
        raise ValueError("mixed ROIs need a protocol with >= 2 classes")
    return frac


def _counts(n_rois, frac):
    names = list(frac)
    exact = np.array([frac[c] for c in names]) * n_rois
    counts = np.floor(exact).astype(np.int64)
    for i in np.argsort(-(exact - counts), kind="stable")[: n_rois - counts.sum()]:
        counts[i] += 1
    return names, counts


def _gains(rng, truth, classes):
    """Signed gain per ROI and class (n_rois x n_classes)."""
    n_rois, n_cls = truth.size, len(classes)
    gains = np.zeros((n_rois, n_cls))
    for c, name in enumerate(classes):
        gains[truth == name, c] = 1.0
    mixed = np.flatnonzero(truth == "mixed")
    if mixed.size:
        first = rng.integers(0, n_cls, mixed.size)
        second = (first + rng.integers(1, n_cls, mixed.size)) % n_cls
        gains[mixed, first] = 1.0
        gains[mixed, second] = rng.uniform(0.6, 1.0, mixed.size)
    inhibited = np.flatnonzero(truth == "inhibited")
    gains[inhibited, rng.integers(0, n_cls, inhibited.size)] = -rng.uniform(0.6, 1.0, inhibited.size)
    return gains


def make_recording(
    n_rois=1000,
    n_frames=None,
    *,
    protocol="seed2020",
    frame_period_s=None,
    sensor="GCaMP6s",
    fractions=None,
    snr=4.0,
    seed=0,
    drift=True,
    neuropil=False,
    protocol_seed=2020,
    truth_kernel=None,
    spont_rate_hz=0.03,
    slow_noise=True,
):
    """Generate a synthetic recording with known functional classes.

    Parameters
    ----------
    n_rois : int, default 1000
    n_frames : int, optional
        Default: one pass of the protocol (440 frames for "seed2020").
    protocol : str, default "seed2020"
        Key of :data:`pipeline.protocols.PROTOCOLS`.
    frame_period_s : float, optional
        Default: the protocol's (1 s for "seed2020").
    sensor : str, default "GCaMP6s"
        Recorded as metadata only (see module docstring).
    fractions : dict, optional
        Fractions of ROIs (sum 1) by truth label: any class of the protocol,
        "tuned" (split equally over the classes), "mixed", "inhibited",
        "spontaneous". Default tuned 0.45, mixed 0.1, inhibited 0.08,
        spontaneous 0.37.
    snr : float, default 4.0
        Peak of the noiseless mean response divided by the shot-noise sd at
        baseline (fluorescence units).
    seed : int, default 0
        Seed of everything but the protocol.
    drift : bool, default True
        Bleaching and slow baseline wander.
    neuropil : bool, default False
        Simulate neuropil (returned) contaminating each trace x 0.7.
    protocol_seed : int, default 2020
    truth_kernel : dict, optional
        Override any of tau_decay_s, tau_rise_s, latency_s, adaptation_s.
    spont_rate_hz : float, default 0.03
        Spontaneous transients per second in every ROI.
    slow_noise : bool, default True
        Add the slow AR(1) fluctuation.

    Returns
    -------
    SyntheticRecording
    """
    n_rois = check_positive_int(n_rois, "n_rois", minimum=0)
    snr = check_positive_float(snr, "snr")
    spont_rate_hz = check_positive_float(spont_rate_hz, "spont_rate_hz", allow_zero=True)
    sensor = canonical_sensor(sensor)
    spec = protocol_spec(protocol)
    events, n_frames, dt = make_protocol(protocol, n_frames=n_frames, frame_period_s=frame_period_s, seed=protocol_seed)
    classes = list(spec["classes"])
    frac = _fractions(fractions, classes)
    rng = np.random.default_rng(seed)
    kernel = _draw_kernel(rng, truth_kernel)
    var = _variants(rng, kernel)
    length = n_frames * dt

    names, counts = _counts(n_rois, frac)
    truth = rng.permutation(np.repeat(np.array(names, dtype=object), counts))
    truth = truth.astype(str) if n_rois else np.array([], dtype=str)
    positions = np.column_stack([rng.uniform(0, 300, n_rois), rng.uniform(0, 200, n_rois), rng.uniform(0, 60, n_rois)])
    f0 = np.exp(rng.uniform(np.log(100.0), np.log(1000.0), n_rois))
    peak_dff = np.clip(rng.lognormal(np.log(0.4), 0.3, n_rois), 0.1, 1.2)
    variant = rng.integers(0, _N_VARIANTS, n_rois)
    gains = _gains(rng, truth, classes)

    # Gain of every ROI for every presentation: a class's preferred stimulus
    # at full gain, its other stimuli at 60-100 %.
    stimuli = events["stimulus"].to_numpy()
    stim_gain = {}
    for c, name in enumerate(classes):
        members = spec["classes"][name]
        preferred = rng.integers(0, len(members), n_rois)
        for m, stim in enumerate(members):
            factor = np.where(preferred == m, 1.0, rng.uniform(0.6, 1.0, n_rois))
            stim_gain[stim] = gains[:, c] * factor
    amp = np.column_stack([stim_gain[s] for s in stimuli]) if len(stimuli) else np.zeros((n_rois, 0))
    amp = amp * (peak_dff[:, None] * rng.uniform(0.7, 1.3, amp.shape))
    # Inhibited ROIs fire tonically (fluorescence 1 + tonic above rest) and
    # the stimulus suppresses part of it: relative to their own (tonic)
    # baseline the dip is gain x peak_dff, at most 90 % of the tonic level.
    tonic = np.where(truth == "inhibited", INHIBITED_TONIC * peak_dff, 0.0)
    amp *= (1.0 + tonic)[:, None]
    amp = np.maximum(amp, -0.9 * tonic[:, None])

    # Evoked templates per kinetic variant (n_var x n_events x n_frames).
    cols = np.arange(n_frames)[None, :]
    onsets = events["onset_s"].to_numpy()[:, None]
    durs = events["duration_s"].to_numpy()[:, None]
    templates = np.empty((_N_VARIANTS, len(stimuli), n_frames))
    for v in range(_N_VARIANTS):
        p = (var["adapt"][v], var["tau_decay"][v], var["tau_rise"][v])
        peaks = {d: _peak(d, *p) for d in np.unique(durs)}
        templates[v] = _frame_mean(onsets + var["latency"][v], dt, cols, durs, *p)
        templates[v] /= np.array([peaks[d] for d in durs[:, 0]])[:, None]

    # Spontaneous transients (sorted by ROI, as np.repeat lays them out).
    n_spont = rng.poisson(spont_rate_hz * length, n_rois)
    spont_roi = np.repeat(np.arange(n_rois), n_spont)
    spont_time = rng.uniform(0.0, length, spont_roi.size)
    spont_dur = rng.uniform(*SPONT_DURATION_S, spont_roi.size)
    ref_peak = np.array(
        [_peak(1.0, var["adapt"][v], var["tau_decay"][v], var["tau_rise"][v]) for v in range(_N_VARIANTS)]
    )
    spont_amp = peak_dff[spont_roi] * rng.uniform(*SPONT_AMPLITUDE, spont_roi.size) / ref_peak[variant[spont_roi]]
    # A transient lasts its burst (<= 2.5 s) plus ~6 decay constants
    # (exp(-6) = 0.25 % left).
    spont_cols = min(n_frames, int(math.ceil((SPONT_DURATION_S[1] + 6 * var["tau_decay"].max()) / dt)) + 2)

    t = np.arange(n_frames) * dt
    if drift:
        bleach = rng.uniform(0.02, 0.06, n_rois)
        bleach_taus = np.linspace(0.5, 2.0, 8) * length
        bleach_curves = np.exp(-t[None, :] / bleach_taus[:, None])
        bleach_idx = rng.integers(0, bleach_taus.size, n_rois)
        periods = rng.uniform(60.0, max(120.0, length), _WANDER_COMPONENTS)
        phases = rng.uniform(0.0, 2 * np.pi, _WANDER_COMPONENTS)
        wander_basis = np.sin(2 * np.pi * t[None, :] / periods[:, None] + phases[:, None])
        wander_weight = rng.normal(0.0, 0.01 / np.sqrt(_WANDER_COMPONENTS), (n_rois, _WANDER_COMPONENTS))
    if slow_noise:
        slow_tau = rng.uniform(3.0, 10.0, n_rois)
        slow_sd = rng.uniform(*SLOW_SD, n_rois) * peak_dff / snr
    if neuropil:
        np_f0 = f0 * rng.uniform(0.3, 0.6, n_rois)
        np_gain = rng.uniform(0.05, 0.15, n_rois)
        population = templates.mean(axis=0).sum(axis=0)
    baseline_total = f0 + (NEUROPIL_FACTOR * np_f0 if neuropil else 0.0)
    noise_gain = (peak_dff * f0 / snr) ** 2 / baseline_total

    traces = np.empty((n_rois, n_frames), dtype=np.float32)
    neuropil_out = np.empty((n_rois, n_frames), dtype=np.float32) if neuropil else None
    bounds = np.searchsorted(spont_roi, np.arange(0, n_rois + _BLOCK_ROIS, _BLOCK_ROIS))
    for b, start in enumerate(range(0, n_rois, _BLOCK_ROIS)):
        stop = min(start + _BLOCK_ROIS, n_rois)
        rows = np.s_[start:stop]
        signal = np.empty((stop - start, n_frames))
        for v in range(_N_VARIANTS):
            sel = np.flatnonzero(variant[rows] == v)
            signal[sel] = amp[start + sel] @ templates[v]
        signal += tonic[rows, None]
        ev = np.s_[bounds[b] : bounds[b + 1]]
        if bounds[b + 1] > bounds[b]:
            v = variant[spont_roi[ev]][:, None]
            first = np.floor(spont_time[ev] / dt).astype(np.int64)
            ccols = first[:, None] + np.arange(spont_cols)[None, :]
            vals = _frame_mean(
                spont_time[ev][:, None] + var["latency"][v],
                dt,
                ccols,
                spont_dur[ev][:, None],
                var["adapt"][v],
                var["tau_decay"][v],
                var["tau_rise"][v],
            )
            vals *= spont_amp[ev][:, None]
            keep = ccols < n_frames
            flat = ((spont_roi[ev] - start)[:, None] * n_frames + ccols)[keep]
            signal += np.bincount(flat, weights=vals[keep], minlength=signal.size).reshape(signal.shape)
        if slow_noise:
            signal += _ar1(rng, slow_tau[rows], slow_sd[rows], n_frames, dt)
        if drift:
            level = bleach_curves[bleach_idx[rows]]
            level *= bleach[rows, None]
            level += 1.0 - bleach[rows, None]
            level += wander_weight[rows] @ wander_basis
        else:
            level = np.ones((stop - start, 1))
        signal += 1.0
        signal *= level
        signal *= f0[rows, None]
        fluo = signal
        if neuropil:
            np_true = np_f0[rows, None] * level * (1.0 + np_gain[rows, None] * population[None, :])
            fluo += NEUROPIL_FACTOR * np_true
            np_noise = rng.standard_normal(np_true.shape)
            np_noise *= np.sqrt(noise_gain[rows, None] * np_true / 9.0)
            np.maximum(np_true + np_noise, 1.0, out=np_true)
            neuropil_out[rows] = np_true
        noise = rng.standard_normal(fluo.shape)
        noise *= np.sqrt(noise_gain[rows, None] * np.maximum(fluo, 1.0))
        fluo += noise
        np.maximum(fluo, 1.0, out=fluo)
        traces[rows] = fluo

    return SyntheticRecording(
        traces=traces,
        frame_period_s=float(dt),
        events=events,
        truth=truth,
        sensor=sensor,
        positions=positions,
        groups={k: list(v) for k, v in spec["classes"].items()},
        gains=gains,
        truth_kernel=kernel,
        neuropil=neuropil_out,
        peak_dff=peak_dff,
        snr=snr,
        protocol=protocol,
        spont_rate_hz=spont_rate_hz,
    )


def make_null_recording(n_rois=1000, n_frames=None, **kwargs):
    """A recording where every ROI is spontaneous (no stimulus response)."""
    return make_recording(n_rois, n_frames, fractions={"spontaneous": 1.0}, **kwargs)


def _ar1(rng, tau_s, sd, n_frames, dt):
    """Stationary AR(1) rows with time constants ``tau_s`` and sd ``sd``."""
    phi = np.exp(-dt / tau_s)[:, None]
    innov = rng.standard_normal((tau_s.size, n_frames))
    innov *= np.sqrt(1.0 - phi**2)
    out = np.empty_like(innov)
    out[:, 0] = rng.standard_normal(tau_s.size)
    # A recursion over frames (not ROIs): n_frames steps, vectorised in ROIs.
    for k in range(1, n_frames):
        out[:, k] = phi[:, 0] * out[:, k - 1] + innov[:, k]
    return out * sd[:, None]
