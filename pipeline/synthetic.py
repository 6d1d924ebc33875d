"""Synthetic zebrafish tectum recordings with known ground truth.

The generator mimics the 2020 experiment (prey-like dots moving nasalward or
temporalward, looming and dimming stimuli, GCaMP imaging at ~1 Hz) closely
enough to test the analysis end to end:

- protocol: 6 prey presentations (3 nasalward, 3 temporalward), 3 looming and
  3 dimming, in a shuffled order, 20 s lead-in and 25-35 s between onsets
  (compressed for short recordings); onsets are not aligned to frames.
- tuned ROIs ("prey", "looming", "dimming") fire an adapting burst
  (rate ~ exp(-t / adaptation_s), from ``latency_s`` after onset to the end
  of the stimulus) at every presentation of their class; the calcium signal
  is that burst filtered by the sensor's kernel (:data:`SENSORS`), integrated
  over each frame's exposure, with a per-presentation amplitude varying
  +-30 %. Prey ROIs prefer one direction (the other evokes 60-100 %).
  "mixed" ROIs respond to two classes. All ROIs also have rare spontaneous
  events; "spontaneous" ROIs have only those, at a rate giving about as many
  events as a tuned ROI has responses.
- fluorescence: baseline F0 log-uniform in [100, 1000], optional bleaching
  (2-6 % exponential decay) and slow wander (~1 %), shot noise with variance
  proportional to F, scaled so that ``snr = peak response / noise sd`` (both
  in fluorescence units at baseline).
- optional neuropil: a dimmer, weakly stimulus-driven background of which
  0.7 x contaminates each ROI's trace.

Generation is vectorised over ROIs and done in fixed blocks of ROIs, so
100,000 ROIs x 2,000 frames take a few seconds and ~1 GB beyond the output.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ._validation import (check_positive_float, check_positive_int)
from .kernels import SENSORS, canonical_sensor

__all__ = ["SyntheticRecording", "make_recording", "make_protocol",
           "CLASSES", "DEFAULT_FRACTIONS", "GROUPS", "NEUROPIL_FACTOR"]

CLASSES = ("prey", "looming", "dimming", "mixed", "spontaneous")
DEFAULT_FRACTIONS = {"prey": 0.2, "looming": 0.15, "dimming": 0.15,
                     "mixed": 0.1, "spontaneous": 0.4}
GROUPS = {"prey": ["prey-nasalward", "prey-temporalward"],
          "looming": ["looming"], "dimming": ["dimming"]}
DURATIONS_S = {"prey-nasalward": 5.0, "prey-temporalward": 5.0,
               "looming": 3.0, "dimming": 3.0}
NEUROPIL_FACTOR = 0.7

_TUNED = ("prey", "looming", "dimming")
_PRESENTATIONS = (["prey-nasalward", "prey-temporalward"] * 3
                  + ["looming"] * 3 + ["dimming"] * 3)
# Spontaneous calcium events per second: "spontaneous" ROIs (~4 events in a
# 7-minute recording, like a tuned ROI's 3-6 responses) and, rarely, tuned
# ROIs.
_SPONT_RATE_HZ = 0.01
_BACKGROUND_RATE_HZ = 0.002
_SPONT_BURST_S = 2.0
# Sub-samples per frame used to integrate the signal over the exposure.
_SUBSAMPLES = 4
# Shared slow components mixed into each ROI's baseline wander.
_WANDER_COMPONENTS = 4
# ROIs generated per block: fixed, so the random stream (and the result)
# does not depend on the machine.
_BLOCK_ROIS = 4096


@dataclass(eq=False)
class SyntheticRecording:
    """A synthetic recording and its ground truth.

    Attributes
    ----------
    traces : ndarray (n_rois, n_frames), float32
        Raw fluorescence, strictly positive.
    frame_period_s : float
    events : DataFrame
        Columns stimulus, onset_s, duration_s; one row per presentation.
    truth : ndarray of str (n_rois,)
        "prey", "looming", "dimming", "mixed" or "spontaneous".
    sensor : str
        Canonical sensor name used to shape the transients.
    positions : ndarray (n_rois, 3)
        ROI centres (x, y, z) in micrometres.
    groups : dict
        Regressor name -> stimulus names (prey directions pooled).
    neuropil : ndarray (n_rois, n_frames), float32, or None
        Neuropil fluorescence (if requested); traces contain
        ``NEUROPIL_FACTOR`` x the noiseless neuropil.
    peak_dff : ndarray (n_rois,)
        Mean peak dF/F of each ROI's responses (its own baseline).
    snr : float
        Peak response / baseline noise sd used.
    """

    traces: np.ndarray
    frame_period_s: float
    events: pd.DataFrame
    truth: np.ndarray
    sensor: str
    positions: np.ndarray
    groups: dict
    neuropil: np.ndarray | None = None
    peak_dff: np.ndarray | None = None
    snr: float = float("nan")


def make_protocol(n_frames, frame_period_s, *, seed=2020, lead_in_s=20.0,
                  isi_s=(25.0, 35.0), tail_s=15.0):
    """Stimulus events of the prey / looming / dimming protocol.

    Parameters
    ----------
    n_frames : int
    frame_period_s : float
    seed : int, default 2020
        Seed of the presentation order and inter-stimulus intervals (a fixed
        protocol, as when the same stimulus file is replayed to every fish).
    lead_in_s : float, default 20
        Time before the first onset.
    isi_s : (float, float), default (25, 35)
        Range of onset-to-onset intervals.
    tail_s : float, default 15
        Time kept after the end of the last stimulus.

    Returns
    -------
    DataFrame with columns stimulus, onset_s (ms resolution), duration_s.
    Timings are compressed if the recording is shorter than the protocol.

    Raises
    ------
    ValueError
        If the recording is too short even after compression (each stimulus
        must end at least max(2 s, 3 frames) before the next starts).
    """
    n_frames = check_positive_int(n_frames, "n_frames")
    frame_period_s = check_positive_float(frame_period_s, "frame_period_s")
    rng = np.random.default_rng(seed)
    stimuli = np.array(_PRESENTATIONS)[rng.permutation(len(_PRESENTATIONS))]
    isis = rng.uniform(isi_s[0], isi_s[1], size=len(stimuli) - 1)
    durations = np.array([DURATIONS_S[s] for s in stimuli])
    length = n_frames * frame_period_s
    needed = lead_in_s + isis.sum() + durations[-1] + tail_s
    scale = min(1.0, (length - durations[-1]) / (needed - durations[-1]))
    min_gap = max(2.0, 3 * frame_period_s)
    # Smallest compression keeping every stimulus clear of the next one.
    min_scale = max(float(np.max((durations[:-1] + min_gap) / isis)),
                    2 * frame_period_s / lead_in_s)
    if scale < min_scale:
        shortest = min_scale * (needed - durations[-1]) + durations[-1]
        raise ValueError(
            f"a recording of {length:g} s ({n_frames} frames of "
            f"{frame_period_s:g} s) is too short for the 12-presentation "
            f"protocol; it needs at least {math.ceil(shortest)} s")
    onsets = scale * (lead_in_s + np.concatenate([[0.0], np.cumsum(isis)]))
    return pd.DataFrame({"stimulus": stimuli, "onset_s": np.round(onsets, 3),
                         "duration_s": durations})


def _kernel_terms(sensor):
    """(sign, tau) exponentials whose sum is the sensor's impulse response."""
    spec = SENSORS[sensor]
    terms = [(1.0, spec["tau_decay_s"])]
    if spec["tau_rise_s"] is not None:
        terms.append((-1.0, spec["tau_rise_s"]))
    return terms


def _burst_response(t, duration, tau_adapt, terms):
    """Sensor response to a burst ``exp(-s / tau_adapt)`` on [0, duration).

    ``t`` is time since the burst start; the convolution with each kernel
    exponential ``exp(-t / tau)`` is evaluated in closed form.
    """
    t = np.asarray(t, dtype=np.float64)
    tp = np.maximum(t, 0.0)
    m = np.minimum(tp, duration)
    out = np.zeros(np.broadcast(t, m).shape)
    for sign, tau in terms:
        k = 1.0 / tau - 1.0 / tau_adapt
        late = np.exp(-(tp - m) / tau - m / tau_adapt)
        early = np.exp(-tp / tau)
        if abs(k) < 1e-12:
            out += sign * m * early
        else:
            out += sign * (late - early) / k
    return np.where(t > 0, out, 0.0)


def _peak(duration, tau_adapt, terms):
    t_max = duration + 10 * max(tau for _, tau in terms) + 5 * tau_adapt
    t = np.linspace(0.0, t_max, 20001)
    return float(_burst_response(t, duration, tau_adapt, terms).max())


def _frame_integrated(t0, frame_period_s, n_cols, duration, tau_adapt, terms,
                      first_col=None):
    """Mean response over each frame's exposure.

    ``t0``: burst start times (n_ev,). Columns are frames
    ``first_col + arange(n_cols)`` (or 0..n_cols-1). Returns (n_ev, n_cols).
    """
    t0 = np.atleast_1d(np.asarray(t0, dtype=np.float64))
    cols = np.arange(n_cols)[None, :]
    if first_col is not None:
        cols = cols + np.asarray(first_col)[:, None]
    acc = np.zeros((t0.size, n_cols))
    for j in range(_SUBSAMPLES):
        t = (cols + (j + 0.5) / _SUBSAMPLES) * frame_period_s - t0[:, None]
        acc += _burst_response(t, duration, tau_adapt, terms)
    return acc / _SUBSAMPLES


def _class_counts(n_rois, fractions):
    if fractions is None:
        fractions = DEFAULT_FRACTIONS
    unknown = set(fractions) - set(CLASSES)
    if unknown:
        raise ValueError(
            f"unknown classes in fractions: {sorted(unknown)}; expected "
            f"{CLASSES}")
    frac = np.array([float(fractions.get(c, 0.0)) for c in CLASSES])
    if (frac < 0).any() or not np.isfinite(frac).all():
        raise ValueError(f"fractions must be finite and >= 0, got {fractions}")
    if not math.isclose(frac.sum(), 1.0, abs_tol=1e-6):
        raise ValueError(f"fractions must sum to 1, got {frac.sum():g}")
    exact = frac * n_rois
    counts = np.floor(exact).astype(np.int64)
    # Largest remainders get the leftover ROIs.
    for i in np.argsort(-(exact - counts), kind="stable")[:n_rois
                                                          - counts.sum()]:
        counts[i] += 1
    return counts


def make_recording(n_rois=300, n_frames=420, *, frame_period_s=1.0,
                   sensor="GCaMP6s", fractions=None, snr=4.0, seed=0,
                   drift=True, neuropil=False, protocol_seed=2020,
                   latency_s=0.3, adaptation_s=1.0):
    """Generate a synthetic recording with known functional classes.

    Parameters
    ----------
    n_rois : int, default 300
    n_frames : int, default 420
        With the default 1 s frames: the 7-minute 2020 recording.
    frame_period_s : float, default 1.0
    sensor : str, default "GCaMP6s"
        Any key of :data:`pipeline.kernels.SENSORS` (case-insensitive).
    fractions : dict, optional
        Class -> fraction of ROIs (sums to 1). Default prey 0.2, looming
        0.15, dimming 0.15, mixed 0.1, spontaneous 0.4.
    snr : float, default 4.0
        Peak of the noiseless mean response (continuous time, before frame
        integration, which lowers the sampled peak a little at slow frame
        rates) divided by the noise sd at baseline, both in fluorescence
        units of the ROI.
    seed : int, default 0
        Seed of everything except the protocol. Same seed, same recording.
    drift : bool, default True
        Add bleaching and slow baseline wander.
    neuropil : bool, default False
        Also simulate neuropil (returned in ``neuropil``) and contaminate
        traces with ``NEUROPIL_FACTOR`` x neuropil.
    protocol_seed : int, default 2020
        Seed of the stimulus order and timing (see :func:`make_protocol`).
    latency_s : float, default 0.3
        Response latency after stimulus onset.
    adaptation_s : float, default 1.0
        Time constant of the firing-rate adaptation during a stimulus.

    Returns
    -------
    SyntheticRecording
    """
    n_rois = check_positive_int(n_rois, "n_rois", minimum=0)
    n_frames = check_positive_int(n_frames, "n_frames", minimum=2)
    frame_period_s = check_positive_float(frame_period_s, "frame_period_s")
    snr = check_positive_float(snr, "snr")
    latency_s = check_positive_float(latency_s, "latency_s", allow_zero=True)
    adaptation_s = check_positive_float(adaptation_s, "adaptation_s")
    sensor = canonical_sensor(sensor)
    counts = _class_counts(n_rois, fractions)
    events = make_protocol(n_frames, frame_period_s, seed=protocol_seed)
    rng = np.random.default_rng(seed)
    length = n_frames * frame_period_s
    terms = _kernel_terms(sensor)

    # --- per-ROI parameters ------------------------------------------------
    truth = rng.permutation(np.repeat(np.array(CLASSES), counts))
    positions = np.column_stack([rng.uniform(0, 300, n_rois),
                                 rng.uniform(0, 200, n_rois),
                                 rng.uniform(0, 60, n_rois)])
    f0 = np.exp(rng.uniform(np.log(100.0), np.log(1000.0), n_rois))
    peak_dff = np.clip(rng.lognormal(np.log(0.4), 0.3, n_rois), 0.1, 1.2)

    stimuli = events["stimulus"].to_numpy()
    n_ev = len(stimuli)
    # Gain of each ROI for each stimulus (n_rois x n_events).
    class_gain = np.zeros((n_rois, len(_TUNED)))
    for c, name in enumerate(_TUNED):
        class_gain[truth == name, c] = 1.0
    mixed = np.flatnonzero(truth == "mixed")
    pair = np.array([(0, 1), (0, 2), (1, 2)])[rng.integers(0, 3, mixed.size)]
    second = rng.uniform(0.6, 1.0, mixed.size)
    swap = rng.random(mixed.size) < 0.5
    class_gain[mixed, pair[:, 0]] = np.where(swap, second, 1.0)
    class_gain[mixed, pair[:, 1]] = np.where(swap, 1.0, second)
    # Direction preference of prey responses: one direction at full gain.
    direction = rng.uniform(0.6, 1.0, n_rois)
    prefers_nasal = rng.random(n_rois) < 0.5
    stim_gain = {
        "prey-nasalward": class_gain[:, 0] * np.where(prefers_nasal, 1.0,
                                                      direction),
        "prey-temporalward": class_gain[:, 0] * np.where(prefers_nasal,
                                                         direction, 1.0),
        "looming": class_gain[:, 1], "dimming": class_gain[:, 2]}
    amp = np.column_stack([stim_gain[s] for s in stimuli])
    amp *= peak_dff[:, None] * rng.uniform(0.7, 1.3, (n_rois, n_ev))

    # Response templates, one per presentation (n_events x n_frames).
    templates = np.vstack([
        _frame_integrated(onset + latency_s, frame_period_s, n_frames, dur,
                          adaptation_s, terms)
        / _peak(dur, adaptation_s, terms)
        for onset, dur in zip(events["onset_s"], events["duration_s"])])

    # Spontaneous events (sorted by ROI, as np.repeat lays them out).
    rate = np.where(truth == "spontaneous", _SPONT_RATE_HZ,
                    _BACKGROUND_RATE_HZ)
    n_spont = rng.poisson(rate * length)
    spont_roi = np.repeat(np.arange(n_rois), n_spont)
    spont_time = rng.uniform(0.0, length, spont_roi.size)
    spont_amp = peak_dff[spont_roi] * rng.uniform(0.7, 1.3, spont_roi.size)
    spont_peak = _peak(_SPONT_BURST_S, adaptation_s, terms)
    spont_cols = min(n_frames, int(math.ceil(
        (_SPONT_BURST_S + 8 * max(adaptation_s, terms[0][1]))
        / frame_period_s)) + 2)

    t = np.arange(n_frames) * frame_period_s
    if drift:
        # Bleaching 1 - b (1 - exp(-t / tau)): tau from a small set of values
        # and slow wander as ROI-specific mixtures of shared slow components
        # (focus, temperature, ...); both become cheap gathers / products.
        bleach = rng.uniform(0.02, 0.06, n_rois)
        bleach_taus = np.linspace(0.5, 2.0, 8) * length
        bleach_curves = np.exp(-t[None, :] / bleach_taus[:, None])
        bleach_idx = rng.integers(0, bleach_taus.size, n_rois)
        periods = rng.uniform(60.0, max(120.0, length), _WANDER_COMPONENTS)
        phases = rng.uniform(0.0, 2 * np.pi, _WANDER_COMPONENTS)
        wander_basis = np.sin(2 * np.pi * t[None, :] / periods[:, None]
                              + phases[:, None])
        wander_weight = rng.normal(0.0, 0.01 / np.sqrt(_WANDER_COMPONENTS),
                                   (n_rois, _WANDER_COMPONENTS))
    if neuropil:
        np_f0 = f0 * rng.uniform(0.3, 0.6, n_rois)
        np_gain = rng.uniform(0.05, 0.15, n_rois)
        population = templates.sum(axis=0)  # neuropil follows all stimuli
    # Shot-noise variance gain*F, set so that sd at baseline = peak / snr.
    baseline_total = f0 + (NEUROPIL_FACTOR * np_f0 if neuropil else 0.0)
    noise_gain = (peak_dff * f0 / snr) ** 2 / baseline_total

    # --- traces, block by block ---------------------------------------------
    traces = np.empty((n_rois, n_frames), dtype=np.float32)
    neuropil_out = (np.empty((n_rois, n_frames), dtype=np.float32)
                    if neuropil else None)
    bounds = np.searchsorted(spont_roi, np.arange(0, n_rois + _BLOCK_ROIS,
                                                  _BLOCK_ROIS))
    for b, start in enumerate(range(0, n_rois, _BLOCK_ROIS)):
        stop = min(start + _BLOCK_ROIS, n_rois)
        rows = np.s_[start:stop]
        signal = amp[rows] @ templates
        ev = np.s_[bounds[b]:bounds[b + 1]]
        if bounds[b + 1] > bounds[b]:
            first = np.floor(spont_time[ev] / frame_period_s).astype(np.int64)
            vals = _frame_integrated(spont_time[ev], frame_period_s,
                                     spont_cols, _SPONT_BURST_S, adaptation_s,
                                     terms, first_col=first)
            vals *= (spont_amp[ev] / spont_peak)[:, None]
            cols = first[:, None] + np.arange(spont_cols)[None, :]
            keep = cols < n_frames
            flat = ((spont_roi[ev] - start)[:, None] * n_frames + cols)[keep]
            signal += np.bincount(flat, weights=vals[keep],
                                  minlength=signal.size).reshape(signal.shape)
        if drift:
            level = bleach_curves[bleach_idx[rows]]  # gather: a copy
            level *= bleach[rows, None]
            level += 1.0 - bleach[rows, None]
            level += wander_weight[rows] @ wander_basis
        else:
            level = np.ones((stop - start, 1))
        signal += 1.0
        signal *= level
        signal *= f0[rows, None]
        fluo = signal  # F0 * drift * (1 + dF/F)
        del signal
        if neuropil:
            np_true = np_f0[rows, None] * level * (
                1.0 + np_gain[rows, None] * population[None, :])
            fluo += NEUROPIL_FACTOR * np_true
            # The neuropil annulus averages many pixels: ~3x less noise.
            np_noise = rng.standard_normal(np_true.shape, dtype=np.float32)
            np_noise *= np.sqrt(noise_gain[rows, None] * np_true / 9.0)
            np.maximum(np_true + np_noise, 1.0, out=np_true)
            neuropil_out[rows] = np_true
            del np_true, np_noise
        noise = rng.standard_normal(fluo.shape, dtype=np.float32)
        noise *= np.sqrt(noise_gain[rows, None] * fluo)
        fluo += noise
        del noise
        # Cameras/PMTs have an offset: measured F is strictly positive.
        np.maximum(fluo, 1.0, out=fluo)
        traces[rows] = fluo
        del fluo, level

    return SyntheticRecording(
        traces=traces, frame_period_s=frame_period_s, events=events,
        truth=truth, sensor=sensor, positions=positions,
        groups={k: list(v) for k, v in GROUPS.items()},
        neuropil=neuropil_out, peak_dff=peak_dff, snr=snr)
