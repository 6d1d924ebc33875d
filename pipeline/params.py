"""The parameters of every analysis stage, declared once.

Each stage (``dff``, ``regressors``, ``fit``, ``clustering``) has methods;
each method has parameters with a type, a default, allowed values and a
one-line description. Everything else (the stage functions, the database's
parameter tables, the CLI's ``paramset show``) reads this registry, so a
default exists in exactly one place.

- :func:`resolve_params` turns ``(stage, method, params)`` into the complete,
  validated, JSON-serialisable parameter dict (defaults filled in).
- :func:`paramset` resolves all four stages at once;
  :data:`DEFAULT_PARAMSET` and :data:`SEED2020_PARAMSET` are the two shipped
  sets (stage -> (method, complete params)).
- :func:`applicable` says whether a parameter set can analyse a recording
  with given stimuli and sensor.
- :func:`describe` renders the registry (or one stage) as text.

Errors are :class:`ParamError` (a ValueError) naming the stage, method and
parameter; a misspelt key is answered with the closest allowed key.
"""

from __future__ import annotations

import difflib
import json
import math
import numbers
from dataclasses import dataclass, field

__all__ = [
    "ParamError",
    "Param",
    "Method",
    "REGISTRY",
    "STAGES",
    "resolve_params",
    "paramset",
    "applicable",
    "describe",
    "DEFAULT_PARAMSET",
    "SEED2020_PARAMSET",
    "SEED2020_GROUPS",
    "RESERVED_NAMES",
]

#: Class labels that no regressor or stimulus may be called (same as
#: :data:`pipeline.regressors.RESERVED_NAMES`).
RESERVED_NAMES = ("inhibited", "mixed", "unclassified")

#: The notebook's regressors: prey (either direction), looming, dimming.
SEED2020_GROUPS = {
    "prey": ["prey", "prey-nasalward", "prey-temporalward"],
    "looming": ["looming"],
    "dimming": ["dimming"],
}


class ParamError(ValueError):
    """An unknown stage, method or parameter, or a value out of range."""


_KINDS = ("float", "int", "bool", "choice", "float_list", "window", "groups")


@dataclass(frozen=True)
class Param:
    """One parameter: name, kind, default, range/choices, description.

    ``kind`` is one of "float", "int", "bool", "choice" (a str from
    ``choices``), "float_list" (non-empty list of floats, each in range),
    "window" ([start, end] in s, start < end) or "groups" (None or dict of
    regressor name -> list of stimulus names). ``low``/``high`` bound
    numbers (``low_open``/``high_open`` exclude the bound); ``nullable``
    allows None.
    """

    name: str
    kind: str
    default: object
    doc: str
    choices: tuple = ()
    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False
    nullable: bool = False

    def range_text(self):
        """The values the parameter accepts, as text for messages and docs."""
        if self.kind == "choice":
            return " | ".join(repr(c) for c in self.choices)
        if self.kind == "bool":
            return "true | false"
        if self.kind == "groups":
            return "null | {regressor: [stimulus, ...]}"
        lo = "-inf" if self.low is None else f"{self.low:g}"
        hi = "inf" if self.high is None else f"{self.high:g}"
        text = (
            ("(" if self.low_open or self.low is None else "[")
            + f"{lo}, {hi}"
            + (")" if self.high_open or self.high is None else "]")
        )
        if self.kind == "float_list":
            text = f"list of values in {text}"
        elif self.kind == "window":
            text = f"[start, end] s, start < end, in {text}"
        if self.nullable:
            text += " or null"
        return text


@dataclass(frozen=True)
class Method:
    """A method of a stage: its description and parameters (in order)."""

    doc: str
    params: tuple = field(default_factory=tuple)

    def param(self, name):
        """The declared parameter called ``name`` (KeyError if none)."""
        for p in self.params:
            if p.name == name:
                return p
        raise KeyError(name)


# --- reusable parameter declarations ---------------------------------------


def _percentile():
    return Param("percentile", "float", 8.0, "percentile of the trace taken as baseline F0", low=0.0, high=100.0)


def _neuropil():
    return Param(
        "neuropil_factor", "float", 0.7, "F = traces - factor x neuropil before the baseline (0 disables)", low=0.0
    )


def _train(default):
    return Param(
        "train",
        "choice",
        default,
        "stimulus train: 'boxcar' (1 for the stimulus' duration) or 'onset' (1 at the onset frame)",
        choices=("boxcar", "onset"),
    )


def _groups(default=None):
    return Param(
        "groups",
        "groups",
        default,
        "regressor -> stimuli pooled into it; null = one regressor "
        "per stimulus. Groups absent from a recording are left "
        "out; stimuli no group names get their own regressor",
    )


def _delay(default):
    return Param("delay_s", "float", default, "onset delay of the kernel after the onset frame (s)", low=0.0)


def _tau(name, default, doc):
    return Param(name, "float", default, doc, low=0.0, low_open=True)


_FIT = Method(
    "OLS of every ROI on the regressors, selection, classes, amplitudes",
    (
        Param(
            "significance",
            "choice",
            "shift",
            "p-values from the circular-shift permutation null ('shift') "
            "or the OLS F/t-tests assuming white noise ('parametric')",
            choices=("shift", "parametric"),
        ),
        Param(
            "fdr_alpha",
            "float",
            0.05,
            "select ROIs with Benjamini-Hochberg q <= fdr_alpha (null: no FDR requirement)",
            low=0.0,
            high=1.0,
            low_open=True,
            nullable=True,
        ),
        Param(
            "r2_min",
            "float",
            0.0,
            "select ROIs with r2 > r2_min as well (effect-size floor)",
            low=0.0,
            high=1.0,
            high_open=True,
        ),
        Param(
            "min_shift_s",
            "float",
            None,
            "shortest circular shift (s) in the null; null = the "
            "response length (kernel + longest stimulus, or FIR window)",
            low=0.0,
            low_open=True,
            nullable=True,
        ),
        Param(
            "max_shifts",
            "int",
            1000,
            "at most this many shifts (evenly spaced) in the null; null = all admissible",
            low=20,
            nullable=True,
        ),
        Param(
            "tail",
            "choice",
            "gpd",
            "tail approximation where the permutation p is coarser than "
            "1/n_shifts: generalised Pareto, Beta by moments, or none",
            choices=("gpd", "beta", "none"),
        ),
        Param(
            "tail_min_exceed",
            "int",
            10,
            "use the tail approximation when fewer null values reach the observed one",
            low=1,
        ),
        Param(
            "class_rule",
            "choice",
            "significant",
            "'significant': class from individually significant positive "
            "coefficients (else inhibited / mixed / unclassified); "
            "'largest_coef': the notebook's largest coefficient",
            choices=("significant", "largest_coef"),
        ),
        Param(
            "class_alpha",
            "float",
            0.02,
            "a coefficient is significant if its (two-sided) p <= class_alpha / n_regressors (per-ROI Bonferroni)",
            low=0.0,
            high=1.0,
            low_open=True,
        ),
        Param(
            "mixed_margin",
            "float",
            0.5,
            "with >= 2 significant positive coefficients, mixed if (best - second) / best score < mixed_margin",
            low=0.0,
            high=1.0,
        ),
        Param(
            "amplitude_method",
            "choice",
            "baseline",
            "'baseline': mean dF/F in the response window minus the mean "
            "in the baseline window, per presentation; 'seed2020': the "
            "notebook's padded average of response_window_frames frames",
            choices=("baseline", "seed2020"),
        ),
        Param("response_window_s", "window", [0.0, 5.0], "response window relative to each onset (s)"),
        Param("baseline_window_s", "window", [-3.0, 0.0], "baseline window relative to each onset (s)"),
        Param("response_window_frames", "int", 5, "frames averaged after each onset ('seed2020' amplitudes)", low=1),
    ),
)

_FITTED_TAUS = [0.25, 0.5, 0.75, 1.0, 1.25, 1.5, 1.75, 2.0, 2.25, 2.5, 3.0, 3.5, 4.0, 5.0, 6.0]

#: stage -> method -> Method.
REGISTRY = {
    "dff": {
        "percentile": Method("one baseline per ROI: a percentile of its trace", (_percentile(), _neuropil())),
        "sliding_percentile": Method(
            "running baseline: a percentile over a centred window",
            (_percentile(), Param("window_s", "float", 60.0, "window length (s)", low=0.0, low_open=True), _neuropil()),
        ),
        "none": Method("the traces are dF/F already", ()),
        "seed2020": Method("the notebook's formula (5th percentile across ROIs per frame); reproduction only", ()),
    },
    "regressors": {
        "fitted": Method(
            "exponential kernel whose decay and delay (and rise) are chosen "
            "per recording from the data: the grid point with the largest "
            "summed shift-null evidence over ROIs (see objective)",
            (
                _train("boxcar"),
                _groups(),
                Param(
                    "tau_decay_grid_s",
                    "float_list",
                    _FITTED_TAUS,
                    "candidate decay time constants (s)",
                    low=0.0,
                    low_open=True,
                ),
                Param("delay_grid_s", "float_list", [0.0, 0.25, 0.5, 0.75, 1.0], "candidate onset delays (s)", low=0.0),
                Param(
                    "tau_rise_grid_s",
                    "float_list",
                    [0.0],
                    "candidate rise time constants (s; 0 = no rise term)",
                    low=0.0,
                ),
                Param(
                    "objective",
                    "choice",
                    "z",
                    "'z': sum over ROIs of (r2 - shift-null mean) / null sd; 'r2': sum of (r2 - shift-null mean)",
                    choices=("z", "r2"),
                ),
                Param(
                    "max_rois",
                    "int",
                    1000,
                    "choose the kernel on at most this many ROIs (evenly spaced); null = all",
                    low=10,
                    nullable=True,
                ),
            ),
        ),
        "sensor": Method(
            "the recording's sensor kernel (published 1-AP kinetics)", (_train("onset"), _groups(), _delay(0.5))
        ),
        "exponential": Method(
            "exp(-(t - delay) / tau_decay)",
            (_train("boxcar"), _groups(), _tau("tau_decay_s", 2.0, "decay time constant (s)"), _delay(0.5)),
        ),
        "double_exponential": Method(
            "exp(-(t - delay) / tau_decay) - exp(-(t - delay) / tau_rise)",
            (
                _train("boxcar"),
                _groups(),
                _tau("tau_rise_s", 0.2, "rise time constant (s)"),
                _tau("tau_decay_s", 2.0, "decay time constant (s)"),
                _delay(0.0),
            ),
        ),
        "fir": Method(
            "kernel-free: one regressor column per frame lag after onset",
            (_groups(), Param("window_s", "float", 10.0, "lags covered after each onset (s)", low=0.0, low_open=True)),
        ),
        "seed2020": Method(
            "the notebook's kernel exp(-t / tau) over the whole recording "
            "(sensor's notebook tau), onset trains; reproduction only",
            (_groups(SEED2020_GROUPS),),
        ),
    },
    "fit": {"ols": _FIT},
    "clustering": {
        "hierarchical": Method(
            "agglomerative clustering on correlation distance",
            (
                Param(
                    "linkage",
                    "choice",
                    "average",
                    "linkage method",
                    choices=("average", "complete", "single", "weighted"),
                ),
                Param("n_clusters", "int", 8, "flat clusters (maxclust)", low=1, nullable=True),
                Param(
                    "distance_threshold",
                    "float",
                    None,
                    "cophenetic distance cut; overrides n_clusters",
                    low=0.0,
                    nullable=True,
                ),
                Param("optimal_ordering", "bool", True, "optimal leaf ordering (up to 1000 ROIs)"),
                Param(
                    "max_rois",
                    "int",
                    5000,
                    "cluster at most this many ROIs (highest r2); null = no cap",
                    low=1,
                    nullable=True,
                ),
            ),
        ),
        "none": Method("no clustering", ()),
    },
}

STAGES = tuple(REGISTRY)


def _closest(word, options):
    match = difflib.get_close_matches(str(word), list(options), n=1, cutoff=0.5)
    return f"; did you mean {match[0]!r}?" if match else ""


def _where(stage, method, name):
    return f"{stage} method {method!r} parameter {name!r}"


def _number(value, p, where, integer):
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ParamError(f"{where} must be a number, got {value!r}")
    if integer:
        if isinstance(value, numbers.Integral):
            value = int(value)
        elif float(value).is_integer():
            value = int(value)
        else:
            raise ParamError(f"{where} must be an integer, got {value!r}")
    else:
        value = float(value)
        if not math.isfinite(value):
            raise ParamError(f"{where} must be finite, got {value!r}")
    bad = (p.low is not None and (value < p.low or (p.low_open and value == p.low))) or (
        p.high is not None and (value > p.high or (p.high_open and value == p.high))
    )
    if bad:
        raise ParamError(f"{where} must be in {p.range_text()}, got {value!r}")
    return value


def _check_value(value, p, where):
    if value is None:
        if p.nullable or p.kind == "groups":
            return None
        raise ParamError(f"{where} may not be null")
    if p.kind in ("float", "int"):
        return _number(value, p, where, p.kind == "int")
    if p.kind == "bool":
        if not isinstance(value, bool):
            raise ParamError(f"{where} must be true or false, got {value!r}")
        return value
    if p.kind == "choice":
        if value not in p.choices:
            raise ParamError(f"{where} must be one of {p.range_text()}, got {value!r}" + _closest(value, p.choices))
        return value
    if p.kind in ("float_list", "window"):
        if isinstance(value, (str, bytes)) or not hasattr(value, "__iter__"):
            raise ParamError(f"{where} must be a list of numbers, got {value!r}")
        items = [_number(v, p, f"{where} entry", False) for v in value]
        if p.kind == "window":
            if len(items) != 2 or not items[0] < items[1]:
                raise ParamError(f"{where} must be [start, end] with start < end, got {value!r}")
        elif not items:
            raise ParamError(f"{where} must not be empty")
        return items
    if p.kind == "groups":
        return _check_groups(value, where)
    raise AssertionError(p.kind)  # pragma: no cover


def _check_groups(value, where):
    if not isinstance(value, dict) or not value:
        raise ParamError(
            f"{where} must be null or a non-empty dict of regressor name -> list of stimulus names, got {value!r}"
        )
    out, seen = {}, {}
    for name, members in value.items():
        if not isinstance(name, str) or not name:
            raise ParamError(f"{where}: regressor names must be non-empty strings, got {name!r}")
        if name in RESERVED_NAMES:
            raise ParamError(f"{where}: regressor name {name!r} is reserved for classes {RESERVED_NAMES}")
        if isinstance(members, str):
            members = [members]
        members = list(members) if hasattr(members, "__iter__") else None
        if not members or not all(isinstance(m, str) and m for m in members):
            raise ParamError(f"{where}: group {name!r} must list one or more stimulus names, got {value[name]!r}")
        for m in members:
            if m in RESERVED_NAMES:
                raise ParamError(f"{where}: stimulus name {m!r} is reserved for classes {RESERVED_NAMES}")
            if m in seen:
                raise ParamError(f"{where}: stimulus {m!r} is in groups {seen[m]!r} and {name!r}")
            seen[m] = name
        out[name] = list(members)
    return out


def _method(stage, method):
    if stage not in REGISTRY:
        raise ParamError(f"unknown stage {stage!r}; stages: {', '.join(STAGES)}" + _closest(stage, STAGES))
    methods = REGISTRY[stage]
    if method not in methods:
        raise ParamError(
            f"unknown {stage} method {method!r}; methods: {', '.join(methods)}" + _closest(method, methods)
        )
    return methods[method]


def resolve_params(stage, method, params=None):
    """The complete, validated parameter dict of a stage's method.

    Parameters
    ----------
    stage : {"dff", "regressors", "fit", "clustering"}
    method : str
        A method of the stage (see :data:`REGISTRY`).
    params : dict, optional
        Values overriding the defaults.

    Returns
    -------
    dict
        Every parameter of the method, in declaration order; JSON
        serialisable (lists, not tuples; plain floats/ints/str/bool/None).

    Raises
    ------
    ParamError
        Unknown stage/method/key (with the allowed ones and the closest
        match), a wrong type or a value out of range (naming stage, method
        and parameter), or inconsistent values.
    """
    spec = _method(stage, method)
    params = {} if params is None else params
    if not isinstance(params, dict):
        raise ParamError(f"{stage} method {method!r} parameters must be a dict, got {params!r}")
    names = [p.name for p in spec.params]
    for key in params:
        if key not in names:
            allowed = ", ".join(names) if names else "none"
            raise ParamError(
                f"unknown {stage} method {method!r} parameter {key!r}; allowed: {allowed}" + _closest(key, names)
            )
    out = {}
    for p in spec.params:
        value = params.get(p.name, p.default)
        value = json.loads(json.dumps(value))  # no shared mutable defaults
        out[p.name] = _check_value(value, p, _where(stage, method, p.name))
    _cross_checks(stage, method, out)
    return out


def _cross_checks(stage, method, out):
    if stage == "regressors" and method == "double_exponential":
        if not out["tau_rise_s"] < out["tau_decay_s"]:
            raise ParamError(
                f"regressors method 'double_exponential': tau_rise_s "
                f"({out['tau_rise_s']}) must be < tau_decay_s "
                f"({out['tau_decay_s']})"
            )
    if stage == "regressors" and method == "fitted":
        if not any(r == 0 or r < max(out["tau_decay_grid_s"]) for r in out["tau_rise_grid_s"]):
            raise ParamError(
                "regressors method 'fitted': every tau_rise_grid_s value is "
                ">= every tau_decay_grid_s value; the grid is empty"
            )


def _split(stage, spec):
    """(method, params) from a tuple, a method name or a dict with 'method'."""
    if isinstance(spec, str):
        return spec, {}
    if isinstance(spec, dict):
        if "method" not in spec:
            raise ParamError(f"{stage}: a dict stage spec needs a 'method' key, got keys {sorted(spec)}")
        rest = {k: v for k, v in spec.items() if k != "method"}
        return spec["method"], rest
    if isinstance(spec, (tuple, list)) and len(spec) == 2:
        return spec[0], spec[1]
    raise ParamError(f"{stage}: give (method, params), a method name or a dict with a 'method' key, got {spec!r}")


def resolve_stage(stage, spec, default=None):
    """(method, complete params) of one stage from any accepted spelling.

    ``spec`` None means ``default`` (a (method, params) tuple).
    """
    if spec is None:
        if default is None:
            raise ParamError(f"{stage}: no method given")
        spec = default
    method, params = _split(stage, spec)
    return method, resolve_params(stage, method, params)


def paramset(dff=None, regressors=None, fit=None, clustering=None, *, base=None):
    """Resolve all four stages; stages not given come from ``base``.

    Each stage is a ``(method, params)`` tuple, a method name, or a dict
    with a ``"method"`` key and the parameters. ``base`` (default
    :data:`DEFAULT_PARAMSET`) supplies the stages left out, whole.

    Returns
    -------
    dict
        stage -> (method, complete params).
    """
    base = DEFAULT_PARAMSET if base is None else base
    given = dict(dff=dff, regressors=regressors, fit=fit, clustering=clustering)
    return {stage: resolve_stage(stage, given[stage], base[stage]) for stage in STAGES}


def applicable(spec, stimuli, sensor, n_rois=None):
    """Whether a parameter set can analyse a recording.

    Parameters
    ----------
    spec : dict or tuple
        A paramset (stage -> (method, params)) or the regressors stage's
        ``(method, params)``.
    stimuli : iterable of str
        Stimuli presented in the recording.
    sensor : dict or str
        Sensor dict (name, tau_decay_s, tau_rise_s, seed2020_tau_s) or a
        known sensor name.
    n_rois : int, optional
        ROIs of the recording (the notebook's baseline needs at least 2).

    Returns
    -------
    (bool, str)
        The reason is "" when applicable.
    """
    from .kernels import check_sensor

    if (
        isinstance(spec, dict)
        and "dff" in spec
        and n_rois is not None
        and n_rois < 2
        and resolve_stage("dff", spec["dff"])[0] == "seed2020"
    ):
        return False, (
            "the notebook's baseline (seed2020) is a percentile across ROIs: with "
            f"{n_rois} ROI the dF/F is 0 everywhere"
        )
    if isinstance(spec, dict) and "regressors" in spec:
        spec = spec["regressors"]
    method, params = resolve_stage("regressors", spec)
    stimuli = list(dict.fromkeys(str(s) for s in stimuli))
    if not stimuli:
        return False, "the recording has no stimulus presentations"
    reserved = [s for s in stimuli if s in RESERVED_NAMES]
    if reserved:
        return False, (f"stimulus name(s) {reserved} are reserved for classes {RESERVED_NAMES}")
    try:
        sensor = check_sensor(sensor)
    except ValueError as exc:
        return False, str(exc)
    groups = params.get("groups")
    if groups:
        for name in groups:
            if name in stimuli and name not in groups[name]:
                return False, (f"stimulus {name!r} is in no group, but a group is called so")
    if method == "seed2020":
        if sensor["seed2020_tau_s"] is None:
            return False, (f"sensor {sensor['name']!r} has no notebook (seed2020) tau")
        missing = [g for g, members in groups.items() if not set(members) & set(stimuli)]
        if missing:
            return False, (
                f"seed2020 needs every one of its regressors "
                f"{list(groups)}; none of the stimuli of "
                f"{missing} were presented"
            )
        named = {m for members in groups.values() for m in members}
        extra = [s for s in stimuli if s not in named]
        if extra:
            return False, (
                f"seed2020 fits exactly the notebook's regressors {list(groups)}; stimuli {extra} belong to none"
            )
    if method == "sensor" and sensor["tau_decay_s"] is None:
        return False, f"sensor {sensor['name']!r} has no tau_decay_s"
    return True, ""


def effective_groups(method, params, recording_groups=None):
    """The regressor groups a recording is analysed with.

    A recording's own groups (its manifest's ``groups``: how its protocol's
    stimuli pool) take precedence; the parameter set's ``groups`` apply to
    recordings that declare none. ``seed2020`` always uses the notebook's
    groups. None means one regressor per stimulus.
    """
    if method == "seed2020" or not recording_groups:
        return params.get("groups")
    return {str(k): list(v) for k, v in dict(recording_groups).items()}


def describe(stage=None):
    """Describe the registry as text.

    Stages, methods, parameters, defaults, and where the shipped paramsets
    differ from the methods' defaults.
    """
    stages = STAGES if stage is None else (stage,)
    lines = []
    for st in stages:
        if st not in REGISTRY:
            raise ParamError(f"unknown stage {st!r}" + _closest(st, STAGES))
        default_method = DEFAULT_PARAMSET[st][0]
        lines.append(f"{st}")
        for name, spec in REGISTRY[st].items():
            mark = "  (default)" if name == default_method else ""
            lines.append(f"  {name}{mark}: {spec.doc}")
            for p in spec.params:
                lines.append(f"    {p.name} = {json.dumps(p.default)}  [{p.range_text()}]  {p.doc}")
    for name, ps in (("default", DEFAULT_PARAMSET), ("seed2020", SEED2020_PARAMSET)):
        lines.append(f"paramset {name}")
        for st in stages:
            method, params = ps[st]
            changed = {k: v for k, v in params.items() if v != resolve_params(st, method)[k]}
            extra = "".join(f", {k} = {json.dumps(v)}" for k, v in changed.items())
            lines.append(f"  {st}: {method}{extra}")
    return "\n".join(lines)


def _complete(stage, method, params=None):
    return method, resolve_params(stage, method, params)


#: The default analysis: per-ROI baseline, kernel fitted per recording with
#: boxcar trains, circular-shift null + BH, classes from significant
#: coefficients, baseline-subtracted amplitudes.
DEFAULT_PARAMSET = {
    "dff": _complete("dff", "percentile"),
    "regressors": _complete("regressors", "fitted", {"groups": SEED2020_GROUPS}),
    "fit": _complete("fit", "ols"),
    "clustering": _complete("clustering", "hierarchical"),
}

#: The published 2020 notebook, bit for bit.
SEED2020_PARAMSET = {
    "dff": _complete("dff", "seed2020"),
    "regressors": _complete("regressors", "seed2020"),
    "fit": _complete(
        "fit",
        "ols",
        {
            "significance": "parametric",
            "fdr_alpha": None,
            "r2_min": 0.05,
            "class_rule": "largest_coef",
            "amplitude_method": "seed2020",
            "response_window_frames": 5,
        },
    ),
    # seaborn's clustermap, as in the notebook: no optimal leaf ordering
    "clustering": _complete("clustering", "hierarchical", {"optimal_ordering": False}),
}
