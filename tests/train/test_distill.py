import pytest
import torch
import torch.nn.functional as F
from torch import nn

from taylorprune.errors import InputError
from taylorprune.train import Distillation, TrainingOptions, distillation_loss, train_network
from taylorprune.train.distill import folded
from tests.fixtures import DataDependent, colour_blobs, tiny_resnet


def test_loss_mixes_labels_and_soft_targets():
    torch.manual_seed(0)
    student, teacher, y = torch.randn(8, 3), torch.randn(8, 3), torch.randint(0, 3, (8,))
    hard = F.cross_entropy(student, y)
    same = distillation_loss(teacher.clone(), teacher, hard, weight=0.3, temperature=4.0)
    torch.testing.assert_close(same, 0.7 * hard)  # no disagreement: only the label term is left
    t = 2.0
    p_teacher = F.softmax(teacher / t, 1)
    kl = (p_teacher * (p_teacher.log() - F.log_softmax(student / t, 1))).sum(1).mean()
    torch.testing.assert_close(distillation_loss(student, teacher, hard, 0.5, t), 0.5 * hard + 0.5 * t * t * kl)


def test_a_folded_teacher_has_no_batch_norms_and_answers_the_same():
    torch.manual_seed(0)
    teacher = tiny_resnet()
    for m in teacher.modules():  # statistics and affine maps far from the identity
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.normal_(0, 0.5)
            m.running_var.uniform_(0.5, 2.0)
            m.weight.data.normal_(1, 0.3)
    x = torch.rand(4, 3, 8, 8)
    expected = teacher.eval()(x)
    fast = folded(teacher)
    assert not any(isinstance(m, nn.BatchNorm2d) for m in fast.modules())
    assert any(isinstance(m, nn.BatchNorm2d) for m in teacher.modules())  # a copy: the teacher is untouched
    torch.testing.assert_close(fast(x), expected, rtol=1e-4, atol=1e-5)


def test_a_teacher_fx_cannot_trace_is_used_as_it_is():
    teacher = nn.Sequential(nn.Conv2d(3, 3, 1), nn.BatchNorm2d(3), DataDependent())
    assert folded(teacher) is teacher


def test_a_teacher_without_batch_norms_is_used_as_it_is():
    teacher = nn.Sequential(nn.Conv2d(3, 3, 1), nn.ReLU())
    assert folded(teacher) is teacher  # nothing to fold: no copy, no trace


def test_a_teacher_with_hooks_is_used_as_it_is():
    teacher = tiny_resnet()
    teacher.layer1.register_forward_hook(lambda module, args, out: None)
    assert folded(teacher) is teacher  # a traced copy would not call the hook


@pytest.mark.parametrize("weight, temperature", [(0.0, 4.0), (1.5, 4.0), (0.5, 0.0)])
def test_bad_settings_are_one_line(weight, temperature):
    with pytest.raises(InputError):
        Distillation(tiny_resnet(), weight, temperature)


def test_training_on_soft_targets_moves_the_student_toward_the_teacher():
    data = colour_blobs(192, size=8)
    teacher = tiny_resnet()
    opts = TrainingOptions(max_epochs=15, mini_batch_size=32, verbose=False, execution_environment="cpu",
                           initial_learn_rate=0.05, augment=False)
    teacher, _ = train_network(teacher, data, options=opts)
    before = {k: v.clone() for k, v in teacher.state_dict().items()}
    torch.manual_seed(1)
    student = tiny_resnet()
    for p in student.parameters():
        p.data.normal_(0, 0.1)
    x = data.images.float() / 255

    def disagreement() -> float:
        student.eval()
        with torch.no_grad():
            return F.kl_div(F.log_softmax(student(x), 1), F.log_softmax(teacher.eval()(x), 1),
                            reduction="batchmean", log_target=True).item()

    start = disagreement()
    train_network(student, data, options=opts, distillation=Distillation(teacher, weight=1.0, temperature=2.0))
    assert disagreement() < 0.6 * start
    assert all(torch.equal(v, teacher.state_dict()[k]) for k, v in before.items()), "teacher changed"
