import dataclasses

import pytest

from taylorprune.errors import InputError
from taylorprune.prune import PruningOptions, pruning_options
from taylorprune.prune.options import FINE_TUNING, optional
from taylorprune.train import TrainingOptions

BAD = {  # field: a value outside what it allows
    "learnables_reduction_goal": 1.5, "learnables_reduction_increment": 0.0, "num_importance_score_iterations": 0,
    "validation_split": -0.1, "min_increment": 0.0, "distillation_weight": 1.2, "distillation_temperature": 0.0,
    "channel_multiple": 0, "final_fine_tuning_epochs": -1, "fine_tuning_budget_epochs": 0, "cost": "flops",
    "latency_batch_size": 0, "importance": "random", "normalization": "z-score",
    "time_budget_s": 0.0, "confidence": 1.0, "max_failed_steps": 0, "acceptance_share": 1.0, "validation_seed": -1,
}


@pytest.mark.parametrize("name", list(BAD))
def test_a_value_outside_the_allowed_is_one_line_naming_the_field(name):
    with pytest.raises(InputError, match=f"^{name}=") as err:
        PruningOptions(validation_threshold=50.0, **{name: BAD[name]})
    assert "\n" not in str(err.value)


def test_every_field_says_what_it_means_and_is_checked():
    for f in dataclasses.fields(PruningOptions):
        assert f.metadata["doc"], f.name
        assert f.name in BAD or f.metadata["allowed"] is None, f"{f.name} needs a row in BAD"


def test_none_is_allowed_exactly_where_the_type_says_so():
    optional_fields = {f.name for f in dataclasses.fields(PruningOptions) if optional(f)}
    assert optional_fields == {"layer_names", "validation_split", "min_increment", "fine_tuning_budget_epochs",
                               "time_budget_s", "channel_multiple"}
    PruningOptions(validation_threshold=50.0, **dict.fromkeys(optional_fields))
    with pytest.raises(InputError, match="learnables_reduction_increment=None"):
        PruningOptions(validation_threshold=50.0, learnables_reduction_increment=None)


def test_the_channel_multiple_defaults_to_8_under_a_time_budget_only():
    plain = PruningOptions(validation_threshold=50.0)
    assert plain.kept_multiple() == 1 and plain.replace(time_budget_s=60.0).kept_multiple() == 8
    assert plain.replace(time_budget_s=60.0, channel_multiple=1).kept_multiple() == 1
    assert plain.replace(channel_multiple=4).kept_multiple() == 4


def test_whole_numbers_stay_whole():
    with pytest.raises(InputError, match="channel_multiple=1.5 must be a whole number"):
        PruningOptions(validation_threshold=50.0, channel_multiple=1.5)
    with pytest.raises(InputError, match="fine_tuning_budget_epochs=2.0 must be a whole number"):
        PruningOptions(validation_threshold=50.0, fine_tuning_budget_epochs=2.0)


def test_min_increment_cannot_exceed_the_increment():
    with pytest.raises(InputError, match="must not exceed the increment"):
        PruningOptions(validation_threshold=50.0, learnables_reduction_increment=0.01, min_increment=0.02)


def test_layer_names_become_a_tuple_and_to_dict_is_json_ready():
    opts = PruningOptions(validation_threshold=50.0, layer_names=["conv1", "layer1.0.conv1"])
    assert opts.layer_names == ("conv1", "layer1.0.conv1")
    assert opts.to_dict()["layer_names"] == ["conv1", "layer1.0.conv1"]
    assert set(opts.to_dict()) == {f.name for f in dataclasses.fields(PruningOptions)}


def test_keywords_build_or_override_the_options():
    assert pruning_options(None, {"validation_threshold": 80.0}) == PruningOptions(80.0)
    base = PruningOptions(80.0, cost="macs")
    assert pruning_options(base, {"learnables_reduction_goal": 0.5}) == PruningOptions(
        80.0, cost="macs", learnables_reduction_goal=0.5)
    with pytest.raises(InputError, match="unknown pruning option.*learnables_goal"):
        pruning_options(base, {"learnables_goal": 0.5})
    with pytest.raises(InputError, match="validation_threshold is required"):
        pruning_options(None, {})


def test_fine_tuning_defaults_are_a_frozen_training_options():
    assert isinstance(FINE_TUNING, TrainingOptions) and FINE_TUNING.max_epochs == 5
    with pytest.raises(dataclasses.FrozenInstanceError):
        FINE_TUNING.max_epochs = 1  # type: ignore[misc]


def test_each_decision_gets_a_share_of_the_searchs_risk():
    assert PruningOptions(85.0).decision_confidence() == pytest.approx(0.99)  # 5% over 4 failures + 1
    assert PruningOptions(85.0, max_failed_steps=1).decision_confidence() == pytest.approx(0.975)
    assert PruningOptions(85.0, confidence=0.0).decision_confidence() == 0.0  # MATLAB's plain rule
