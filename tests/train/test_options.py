import json

import pytest

from taylorprune.errors import InputError
from taylorprune.train import TrainingOptions


@pytest.mark.parametrize(
    "changes, field",
    [
        ({"solver": "rmsprop"}, "solver"),
        ({"initial_learn_rate": 0.0}, "initial_learn_rate"),
        ({"momentum": 1.0}, "momentum"),
        ({"max_epochs": 0}, "max_epochs"),
        ({"output_network": "best"}, "output_network"),
        ({"metrics": ("f1",)}, "metric"),
    ],
)
def test_bad_options_name_the_field(changes, field):
    with pytest.raises(InputError, match=field):
        TrainingOptions(**changes)


def test_options_are_frozen_and_json_ready():
    opts = TrainingOptions(max_epochs=3, validation_data=[1, 2, 3])
    with pytest.raises(AttributeError):
        opts.max_epochs = 4  # type: ignore[misc]
    record = json.loads(json.dumps(opts.to_dict()))
    assert record["max_epochs"] == 3
    assert record["validation_data"] == "3 examples"
    assert opts.replace(max_epochs=5).max_epochs == 5
