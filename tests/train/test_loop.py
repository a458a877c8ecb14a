import math

import pytest
import torch
from torch import nn

from taylorprune.errors import InputError
from taylorprune.train import TrainingOptions, evaluate, test_net, train_network
from tests.fixtures import colour_blobs


def tiny_net(classes: int = 3) -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(),
                         nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, classes))


def test_training_reduces_the_loss():
    data = colour_blobs(96)
    net = tiny_net()
    before = evaluate(net, data)["loss"]
    opts = TrainingOptions(max_epochs=6, mini_batch_size=16, initial_learn_rate=0.05, verbose=False,
                           execution_environment="cpu", augment=False)
    net, info = train_network(net, data, "crossentropy", opts)
    after = evaluate(net, data)["loss"]
    assert after < 0.7 * before
    assert len(info.training_history) == 6 * (96 // 16)
    assert info.stop_reason == "Max epochs completed."
    assert info.images_per_second > 0


def test_best_validation_returns_the_best_not_the_last():
    train, val = colour_blobs(96, seed=1), colour_blobs(48, seed=2)
    # A sane first epoch, then a learning rate 500x larger that wrecks the network.
    opts = TrainingOptions(max_epochs=4, mini_batch_size=16, initial_learn_rate=0.05,
                           learn_rate_schedule="piecewise", learn_rate_drop_factor=500,
                           learn_rate_drop_period=2, validation_data=val, validation_frequency=3,
                           objective_metric_name="accuracy", output_network="best-validation",
                           verbose=False, execution_environment="cpu", augment=False)
    net, info = train_network(tiny_net(), train, "crossentropy", opts)
    best = [r for r in info.validation_history if r.is_best][-1]
    assert best.iteration < info.training_history[-1].iteration
    assert info.output_network_iteration == best.iteration
    assert evaluate(net, val)["accuracy"] == pytest.approx(best.accuracy)
    assert best.accuracy == max(r.accuracy for r in info.validation_history)


def test_plain_tensor_pairs_are_accepted():
    data = colour_blobs(30)
    opts = TrainingOptions(max_epochs=1, mini_batch_size=10, verbose=False, execution_environment="cpu")
    net, info = train_network(tiny_net(), (data.images, data.labels), "crossentropy", opts)
    assert len(info.training_history) == 3
    assert 0.0 <= test_net(net, (data.images, data.labels)) <= 100.0


def test_test_net_is_a_percentage():
    data = colour_blobs(30)

    class AlwaysZero(nn.Module):
        def __init__(self):
            super().__init__()
            self.w = nn.Parameter(torch.zeros(()))

        def forward(self, x):
            return torch.tensor([[1.0, 0.0, 0.0]]).repeat(len(x), 1) + self.w

    assert test_net(AlwaysZero(), data) == pytest.approx(100 / 3)


def test_best_validation_without_validation_data_is_refused():
    with pytest.raises(InputError, match="validation_data"):
        train_network(tiny_net(), colour_blobs(12), options=TrainingOptions(output_network="best-validation"))


def test_resuming_from_an_epoch_state_matches_an_uninterrupted_run(tmp_path):
    from taylorprune.train import TrainingState

    train, val = colour_blobs(96, seed=1), colour_blobs(24, seed=2)
    opts = TrainingOptions(max_epochs=4, mini_batch_size=16, initial_learn_rate=0.05, validation_data=val,
                           validation_frequency=5, output_network="best-validation",
                           learn_rate_schedule="cosine", verbose=False, execution_environment="cpu")
    states = []
    whole, info = train_network(tiny_net(), train, options=opts, on_epoch=lambda s: states.append(
        torch.save(s.to_dict(), tmp_path / f"epoch{s.epoch}.pt")))
    saved = torch.load(tmp_path / "epoch2.pt", weights_only=True)  # no pickled code needed
    resumed, info2 = train_network(tiny_net(), train, options=opts, resume=TrainingState(**saved))
    # Bit for bit: both runs use the same kernels on the same layouts and data, so a resume that
    # restores everything leaves no float difference at all.
    for key, value in whole.state_dict().items():
        assert torch.equal(value, resumed.state_dict()[key]), key
    assert info2.training_history == info.training_history
    assert info2.validation_history == info.validation_history


class _RecordingBar:
    """Stands in for tqdm and keeps every postfix the loop shows."""

    shown: list[dict] = []

    def __init__(self, *args, **kwargs):
        pass

    def update(self, n=1):
        pass

    def set_postfix(self, ordered_dict=None, refresh=True, **kwargs):
        self.shown.append({**(ordered_dict or {}), **kwargs})

    def close(self):
        pass

    @staticmethod
    def write(line):
        pass


class _SlowClock:
    """perf_counter where every reading is one second after the last: no work takes less than 1 s."""

    def __init__(self):
        self.now = 0.0

    def perf_counter(self):
        self.now += 1.0
        return self.now


def test_the_progress_bar_shows_a_true_rate(monkeypatch):
    import taylorprune.train.loop as loop

    monkeypatch.setattr(loop, "tqdm", _RecordingBar)
    monkeypatch.setattr(loop, "time", _SlowClock())
    monkeypatch.setattr(_RecordingBar, "shown", [])
    opts = TrainingOptions(max_epochs=2, mini_batch_size=2, verbose=True, execution_environment="cpu")
    _, info = train_network(tiny_net(), colour_blobs(96), "crossentropy", opts)  # 48 steps per epoch
    rates = [float(p["img_s"]) for p in _RecordingBar.shown if "img_s" in p]
    assert rates, "no rate shown"
    images = 2 * 96
    # Each shown rate covers work that took at least one (fake) second, so it cannot exceed the
    # images of the whole run; the old bar divided by 1e-9 s before the first interval was timed.
    assert max(rates) <= images
    assert info.training_seconds >= 4  # two timed intervals per epoch (at 25 steps, at its end)
    assert info.images_per_second == pytest.approx(images / info.training_seconds)
    assert rates[-1] == round(info.images_per_second)


def _one_second_per_mini_batch(monkeypatch) -> list[float]:
    """A clock that moves one second per training mini-batch and never otherwise, so what training
    does at a deadline is exact on any machine."""
    from taylorprune.train import loop

    now = [1000.0]
    update = loop._Run._update

    def timed_update(self, x, y):
        result = update(self, x, y)
        now[0] += 1.0
        return result

    monkeypatch.setattr(loop._Run, "_update", timed_update)
    monkeypatch.setattr(loop.time, "perf_counter", lambda: now[0])
    return now


@pytest.mark.parametrize("schedule", ["cosine", "piecewise"])
def test_a_deadline_stops_training_at_once_with_the_schedule_run_to_its_end(monkeypatch, schedule):
    """Planned: 4 epochs of 6 mini-batches; the deadline comes after 10. Training stops at the first
    iteration past it, and the learning rate, which follows the clock as well as the iterations,
    has reached the end of its schedule there instead of stopping at a high rate part-way."""
    now = _one_second_per_mini_batch(monkeypatch)
    opts = TrainingOptions(max_epochs=4, mini_batch_size=16, initial_learn_rate=0.1, learn_rate_schedule=schedule,
                           learn_rate_drop_period=1, learn_rate_drop_factor=0.1, verbose=False,
                           execution_environment="cpu", augment=False)
    _, info = train_network(tiny_net(), colour_blobs(96), options=opts, deadline=now[0] + 10.0)
    assert info.stop_reason == "Time limit reached."
    assert len(info.training_history) == 10
    rates = [r.learn_rate for r in info.training_history]
    assert rates[0] == pytest.approx(0.1) and rates == sorted(rates, reverse=True)
    assert rates[-1] < 0.003  # cosine: 0.00245 (at 9 of 10 s); piecewise: the fourth epoch's 1e-4


def test_without_a_deadline_the_schedule_follows_the_iterations_alone(monkeypatch):
    _one_second_per_mini_batch(monkeypatch)
    opts = TrainingOptions(max_epochs=2, mini_batch_size=16, initial_learn_rate=0.1, learn_rate_schedule="cosine",
                           verbose=False, execution_environment="cpu", augment=False)
    _, info = train_network(tiny_net(), colour_blobs(96), options=opts)
    assert [r.learn_rate for r in info.training_history][6] == pytest.approx(0.1 * 0.5 * (1 + math.cos(math.pi / 2)))
