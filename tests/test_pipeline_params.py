"""Parameter registry: defaults, validation, paramsets, applicability."""

import json

import pytest

from pipeline import params as P
from pipeline.params import (
    DEFAULT_PARAMSET,
    REGISTRY,
    SEED2020_PARAMSET,
    ParamError,
    applicable,
    describe,
    paramset,
    resolve_params,
)


def test_every_method_resolves_to_complete_json_defaults():
    for stage, methods in REGISTRY.items():
        for method, spec in methods.items():
            resolved = resolve_params(stage, method)
            assert list(resolved) == [p.name for p in spec.params]
            assert json.loads(json.dumps(resolved)) == resolved
            # resolving the resolved dict is the identity
            assert resolve_params(stage, method, resolved) == resolved


def test_paramsets_are_complete_and_json():
    for ps in (DEFAULT_PARAMSET, SEED2020_PARAMSET):
        assert set(ps) == set(P.STAGES)
        for stage, (method, params) in ps.items():
            assert params == resolve_params(stage, method, params)
        json.dumps(ps)
    assert DEFAULT_PARAMSET["regressors"][0] == "fitted"
    assert DEFAULT_PARAMSET["fit"][1]["significance"] == "shift"
    seed_fit = SEED2020_PARAMSET["fit"][1]
    assert seed_fit["significance"] == "parametric"
    assert seed_fit["fdr_alpha"] is None and seed_fit["r2_min"] == 0.05
    assert seed_fit["class_rule"] == "largest_coef"
    assert SEED2020_PARAMSET["dff"][0] == "seed2020"
    assert SEED2020_PARAMSET["clustering"][1]["max_rois"] == 5000
    assert DEFAULT_PARAMSET["clustering"][1]["max_rois"] == 5000


def test_misspelt_key_refused_with_suggestion():
    with pytest.raises(ParamError) as info:
        resolve_params("fit", "ols", {"fdr_alpa": 0.1})
    msg = str(info.value)
    assert "fdr_alpa" in msg and "did you mean 'fdr_alpha'" in msg
    assert "allowed:" in msg and "class_alpha" in msg
    assert isinstance(info.value, ValueError)
    with pytest.raises(ParamError, match="did you mean 'fitted'"):
        resolve_params("regressors", "fited")
    with pytest.raises(ParamError, match="did you mean 'clustering'"):
        resolve_params("clusterin", "hierarchical")


@pytest.mark.parametrize(
    "stage, method, params, match",
    [
        (
            "fit",
            "ols",
            {"fdr_alpha": 0.0},
            r"fit method 'ols' parameter "
            r"'fdr_alpha' must be in \(0, 1\]",
        ),
        ("fit", "ols", {"fdr_alpha": "0.05"}, "must be a number"),
        ("fit", "ols", {"significance": "bootstrap"}, "'shift' | 'parametric'"),
        ("fit", "ols", {"response_window_s": [5.0, 1.0]}, "start < end"),
        ("fit", "ols", {"max_shifts": 10.5}, "integer"),
        ("fit", "ols", {"class_alpha": True}, "number"),
        ("dff", "percentile", {"percentile": 120}, r"\[0, 100\]"),
        ("dff", "sliding_percentile", {"window_s": 0}, r"\(0, inf\)"),
        ("regressors", "fitted", {"tau_decay_grid_s": []}, "not be empty"),
        ("regressors", "fitted", {"tau_decay_grid_s": [1, -2]}, "entry"),
        ("regressors", "double_exponential", {"tau_rise_s": 3.0, "tau_decay_s": 2.0}, "tau_rise_s"),
        ("regressors", "exponential", {"groups": {"mixed": ["a"]}}, "reserved"),
        ("regressors", "exponential", {"groups": {"a": ["x"], "b": ["x"]}}, "in groups"),
        ("regressors", "sensor", {"delay_s": None}, "may not be null"),
        ("clustering", "hierarchical", {"optimal_ordering": 1}, "true or false"),
        ("clustering", "hierarchical", {"linkage": "ward"}, "average"),
    ],
)
def test_wrong_values_name_stage_method_parameter(stage, method, params, match):
    with pytest.raises(ParamError, match=match) as info:
        resolve_params(stage, method, params)
    assert stage in str(info.value)


def test_values_are_normalised():
    res = resolve_params("fit", "ols", {"max_shifts": 500.0, "response_window_s": (0, 4)})
    assert res["max_shifts"] == 500 and isinstance(res["max_shifts"], int)
    assert res["response_window_s"] == [0.0, 4.0]
    g = resolve_params("regressors", "exponential", {"groups": {"loom": "looming"}})["groups"]
    assert g == {"loom": ["looming"]}
    # defaults are copies, not shared mutable objects
    a = resolve_params("regressors", "seed2020")
    a["groups"]["prey"].append("x")
    assert "x" not in resolve_params("regressors", "seed2020")["groups"]["prey"]


def test_paramset_spellings():
    ps = paramset(
        regressors=("exponential", {"tau_decay_s": 1.5}),
        fit={"method": "ols", "significance": "parametric"},
        clustering="none",
    )
    assert ps["regressors"][1]["tau_decay_s"] == 1.5
    assert ps["fit"][1]["significance"] == "parametric"
    assert ps["clustering"] == ("none", {})
    assert ps["dff"] == DEFAULT_PARAMSET["dff"]
    seedlike = paramset(base=SEED2020_PARAMSET)
    assert seedlike == SEED2020_PARAMSET
    with pytest.raises(ParamError, match="'method'"):
        paramset(fit={"significance": "shift"})


def test_applicable():
    stimuli = ["prey-nasalward", "looming", "dimming"]
    assert applicable(DEFAULT_PARAMSET, stimuli, "GCaMP6s") == (True, "")
    assert applicable(DEFAULT_PARAMSET, ["grating"], "jGCaMP8m")[0]
    assert applicable(SEED2020_PARAMSET, stimuli, "GCaMP6s") == (True, "")
    ok, why = applicable(SEED2020_PARAMSET, stimuli, "jGCaMP8m")
    assert not ok and "notebook" in why
    ok, why = applicable(SEED2020_PARAMSET, ["looming", "dimming"], "GCaMP6s")
    assert not ok and "prey" in why
    ok, why = applicable(SEED2020_PARAMSET, stimuli + ["flash"], "GCaMP6s")
    assert not ok and "flash" in why
    lab = {"name": "GCaMP-lab", "tau_decay_s": 1.2, "tau_rise_s": None, "seed2020_tau_s": 1.5}
    assert applicable(SEED2020_PARAMSET, stimuli, lab)[0]
    ok, why = applicable(DEFAULT_PARAMSET, ["mixed"], "GCaMP6s")
    assert not ok and "reserved" in why
    assert applicable(("fir", {}), ["a"], "GCaMP6s")[0]


def test_describe_lists_everything():
    text = describe()
    for stage, methods in REGISTRY.items():
        assert stage in text
        for method, spec in methods.items():
            assert method in text
            for p in spec.params:
                assert p.name in text
    assert "fitted  (default)" in text
    assert describe("fit").startswith("fit")
    with pytest.raises(ParamError):
        describe("fitt")
