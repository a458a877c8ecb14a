import textwrap

import pytest
import torchmetrics

from taylorprune.errors import InputError
from taylorprune.tasks import load_task

GOOD = """
import torchmetrics
from taylorprune.train.metrics import MetricFunction
from tests.custom_data import DictSegmenter, squares

def network():
    return DictSegmenter()

def train_data():
    return squares(16)

def validation_data():
    return squares(8, seed=1)

LOSS = "crossentropy"
METRICS = ["miou", torchmetrics.JaccardIndex(task="multiclass", num_classes=2),
           MetricFunction(lambda out, y: out["aux"].abs().mean(), higher_is_better=False, name="aux")]
"""


def write(tmp_path, text: str, name: str = "task.py"):
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


def test_a_good_task_file(tmp_path):
    task = load_task(write(tmp_path, GOOD))
    assert task.objective == "miou" and task.higher_is_better
    assert task.build_network().__class__.__name__ == "DictSegmenter"
    assert len(task.data("train_data", "prune")) == 16
    assert isinstance(task.metrics[1], torchmetrics.Metric)
    described = task.describe()
    assert described["metrics"] == ["miou", "MulticlassJaccardIndex", "aux"]
    assert len(described["task_sha256"]) == 64


def test_defaults_and_a_ceiling_objective(tmp_path):
    task = load_task(write(tmp_path, GOOD.replace("LOSS =", "OBJECTIVE = 'aux'\nLOSS =")))
    assert task.objective == "aux" and not task.higher_is_better
    plain = load_task(write(tmp_path, "import torch\ndef network():\n    return torch.nn.Linear(2, 2)\n"))
    assert plain.loss == "crossentropy" and plain.metrics == ("accuracy",) and plain.objective == "accuracy"


@pytest.mark.parametrize("text, match", [
    ("x = 1\n", "defines no network\\(\\)"),
    ("def network(:\n    pass\n", "SyntaxError.*line 1"),
    ("import torch\n\ndef network():\n    return torch.nn.Linear(2, 2)\nraise ValueError('no data here')\n",
     "failed to load: ValueError: no data here \\(line 5\\)"),
    ("network = 3\n", "network must be a function"),
    (GOOD.replace('LOSS = "crossentropy"', 'LOSS = "hinge"'), "unknown loss 'hinge'"),
    (GOOD.replace('METRICS = ["miou",', 'METRICS = [lambda o, y: o, "miou",'), "MetricFunction"),
    (GOOD + "OBJECTIVE = 'rmse'\n", "objective_metric_name='rmse' is not among"),
    (GOOD + "METRICS = 'miou'\n", "METRICS must be a list"),
])
def test_a_bad_task_file_is_one_line(tmp_path, text, match):
    with pytest.raises(InputError, match=match) as err:
        load_task(write(tmp_path, text))
    assert "\n" not in str(err.value) and "task" in str(err.value)


def test_missing_data_and_failing_functions_are_one_line(tmp_path):
    task = load_task(write(tmp_path, "import torch\ndef network():\n    return 3\ndef train_data():\n"
                                     "    return {}['images']\n"))
    with pytest.raises(InputError, match="defines no test_data\\(\\); `test` needs it"):
        task.data("test_data", "test")
    with pytest.raises(InputError, match="train_data\\(\\) failed: KeyError: 'images' \\(line 5\\)"):
        task.data("train_data", "prune")
    with pytest.raises(InputError, match="network\\(\\) returned int"):
        task.build_network()


def test_not_a_python_file(tmp_path):
    with pytest.raises(InputError, match="not a .py file"):
        load_task(tmp_path / "missing.py")
    with pytest.raises(InputError, match="not a .py file"):
        load_task(write(tmp_path, "x", name="task.txt"))
