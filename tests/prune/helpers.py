"""A tiny pruning problem the loop tests share: 8x8 colour blobs, a quarter-width ResNet-8."""

from taylorprune.prune import compress_network_using_taylor_pruning
from taylorprune.train import TrainingOptions
from tests.fixtures import colour_blobs

TRAIN, VAL = colour_blobs(192, size=8, seed=1), colour_blobs(96, size=8, seed=2)


def tiny_options(**changes) -> TrainingOptions:
    base = dict(max_epochs=1, mini_batch_size=32, initial_learn_rate=0.02, validation_data=VAL,
                validation_frequency=100, objective_metric_name="accuracy", output_network="best-validation",
                verbose=False, execution_environment="cpu", augment=False)
    return TrainingOptions(**{**base, **changes})


def run_pruning(net, **kw):
    kw = {"options": tiny_options(), "num_importance_score_iterations": 2, **kw}
    return compress_network_using_taylor_pruning(net, TRAIN, **kw)
