import pytest

from taylorprune.train import TrainingOptions
from taylorprune.train.schedule import learn_rate_at


def test_piecewise_drops_every_period():
    opts = TrainingOptions(initial_learn_rate=0.1, learn_rate_schedule="piecewise",
                           learn_rate_drop_factor=0.5, learn_rate_drop_period=2, max_epochs=6)
    assert [learn_rate_at(opts, e) for e in (0, 1.9, 2, 4.5)] == pytest.approx([0.1, 0.1, 0.05, 0.025])


def test_cosine_with_warmup_rises_then_decays_to_zero():
    opts = TrainingOptions(initial_learn_rate=0.2, learn_rate_schedule="cosine", warmup_epochs=1, max_epochs=5)
    assert learn_rate_at(opts, 0.0) < 0.01
    assert learn_rate_at(opts, 0.5) == pytest.approx(0.1, rel=0.01)
    assert learn_rate_at(opts, 1.0) == pytest.approx(0.2)
    assert learn_rate_at(opts, 3.0) == pytest.approx(0.1)
    assert learn_rate_at(opts, 5.0) == pytest.approx(0.0, abs=1e-12)


def test_constant_schedule():
    opts = TrainingOptions(initial_learn_rate=0.3)
    assert learn_rate_at(opts, 0) == learn_rate_at(opts, 29.5) == 0.3
