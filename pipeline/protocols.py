"""Stimulus protocols of the synthetic recordings.

A protocol is a set of stimuli (name -> duration), how often each is shown,
the frame period it is usually imaged at, the range of onset-to-onset
intervals and the response classes a tuned ROI can belong to (class ->
stimuli that drive it). Presentations are shuffled in blocks (every stimulus
once per block, like a stimulus file replayed in random order) and, for
recordings longer than one protocol, blocks are repeated to fill the
recording.

Protocols shipped (:data:`PROTOCOLS`):

- ``"seed2020"``: the 2020 experiment. Prey-like dots moving nasalward or
  temporalward (5 s), looming and dimming (3 s), 3 presentations each
  (12 in all), 27-37 s apart after a 30 s lead-in, imaged at ~1 Hz for
  ~440 frames. Classes: prey (both directions), looming, dimming.
- ``"spots"``: 9 small spots at different positions (1 s), 4 presentations
  each (36 in all), 9-13 s apart, imaged at 4 Hz. Each spot is its own class.
- ``"flash"``: a single stimulus (whole-field flash, 0.5 s), 10
  presentations 18-26 s apart, imaged at 2 Hz.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from ._validation import check_positive_float, check_positive_int

__all__ = ["PROTOCOLS", "protocol_spec", "make_protocol"]

PROTOCOLS = {
    "seed2020": dict(
        durations_s={"prey-nasalward": 5.0, "prey-temporalward": 5.0, "looming": 3.0, "dimming": 3.0},
        repeats={"prey-nasalward": 3, "prey-temporalward": 3, "looming": 3, "dimming": 3},
        frame_period_s=1.0,
        isi_s=(27.0, 37.0),
        lead_in_s=30.0,
        tail_s=55.0,
        classes={"prey": ["prey-nasalward", "prey-temporalward"], "looming": ["looming"], "dimming": ["dimming"]},
    ),
    "spots": dict(
        durations_s={f"spot-{i}": 1.0 for i in range(1, 10)},
        repeats={f"spot-{i}": 4 for i in range(1, 10)},
        frame_period_s=0.25,
        isi_s=(9.0, 13.0),
        lead_in_s=15.0,
        tail_s=15.0,
        classes={f"spot-{i}": [f"spot-{i}"] for i in range(1, 10)},
    ),
    "flash": dict(
        durations_s={"flash": 0.5},
        repeats={"flash": 10},
        frame_period_s=0.5,
        isi_s=(18.0, 26.0),
        lead_in_s=15.0,
        tail_s=20.0,
        classes={"flash": ["flash"]},
    ),
}


def protocol_spec(name):
    """The specification dict of a shipped protocol (a copy)."""
    if name not in PROTOCOLS:
        raise ValueError(f"unknown protocol {name!r}; known: {', '.join(PROTOCOLS)}")
    spec = PROTOCOLS[name]
    return {k: (dict(v) if isinstance(v, dict) else v) for k, v in spec.items()}


def _block_order(rng, repeats):
    """Shuffled presentations, every stimulus once per block."""
    order = []
    remaining = dict(repeats)
    while any(remaining.values()):
        block = [s for s, n in remaining.items() if n > 0]
        for s in block:
            remaining[s] -= 1
        order.extend(np.array(block)[rng.permutation(len(block))].tolist())
    return order


def make_protocol(name="seed2020", *, n_frames=None, frame_period_s=None, seed=2020):
    """Stimulus events of a shipped protocol.

    Parameters
    ----------
    name : str, default "seed2020"
        Key of :data:`PROTOCOLS`.
    n_frames : int, optional
        Recording length. Default: just long enough for one pass of the
        protocol. A longer recording repeats the protocol; a shorter one
        compresses the intervals (down to stimulus + max(2 s, 3 frames)).
    frame_period_s : float, optional
        Default: the protocol's usual frame period.
    seed : int, default 2020
        Seed of the order and intervals (a fixed stimulus file).

    Returns
    -------
    events : DataFrame
        Columns stimulus, onset_s (ms resolution), duration_s.
    n_frames : int
    frame_period_s : float
    """
    spec = protocol_spec(name)
    dt = spec["frame_period_s"] if frame_period_s is None else check_positive_float(frame_period_s, "frame_period_s")
    rng = np.random.default_rng(seed)
    durations = spec["durations_s"]
    lo, hi = spec["isi_s"]

    def one_pass():
        stimuli = _block_order(rng, spec["repeats"])
        isis = rng.uniform(lo, hi, size=len(stimuli))
        return stimuli, isis

    stimuli, isis = one_pass()
    one_length = spec["lead_in_s"] + isis[:-1].sum() + durations[stimuli[-1]] + spec["tail_s"]
    if n_frames is None:
        n_frames = int(math.ceil(one_length / dt))
    n_frames = check_positive_int(n_frames, "n_frames", minimum=2)
    length = n_frames * dt
    # Repeat passes while they fit (recordings longer than the protocol).
    while True:
        more, more_isis = one_pass()
        extra = isis[-1] + more_isis[:-1].sum()
        if (spec["lead_in_s"] + isis[:-1].sum() + extra + durations[more[-1]] + spec["tail_s"]) > length:
            break
        stimuli += more
        isis = np.concatenate([isis, more_isis])
    isis = isis[: len(stimuli) - 1]
    dur = np.array([durations[s] for s in stimuli])
    needed = spec["lead_in_s"] + isis.sum() + dur[-1] + spec["tail_s"]
    scale = min(1.0, (length - dur[-1]) / (needed - dur[-1]))
    min_gap = max(2.0, 3 * dt)
    min_scale = 2 * dt / spec["lead_in_s"]
    if isis.size:
        min_scale = max(min_scale, float(np.max((dur[:-1] + min_gap) / isis)))
    if scale < min_scale:
        shortest = min_scale * (needed - dur[-1]) + dur[-1]
        raise ValueError(
            f"a recording of {length:g} s ({n_frames} frames of {dt:g} s) is "
            f"too short for the {name!r} protocol; it needs at least "
            f"{math.ceil(shortest)} s"
        )
    onsets = scale * (spec["lead_in_s"] + np.concatenate([[0.0], np.cumsum(isis)]))
    events = pd.DataFrame({"stimulus": stimuli, "onset_s": np.round(onsets, 3), "duration_s": dur})
    return events, n_frames, dt
