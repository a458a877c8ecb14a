"""A tiny network whose channels have known importance, and random mini-batches for it."""

import torch
import torch.nn.functional as F
from torch import nn


class TwoBranch(nn.Module):
    """conv -> BN -> ReLU -> pool -> linear, with BN channel 0 dead and channel 1 vital."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.bn = nn.BatchNorm2d(4)
        self.fc = nn.Linear(4, 3)
        with torch.no_grad():
            self.bn.weight.copy_(torch.tensor([0.0, 3.0, 0.5, 0.5]))
            self.bn.bias.copy_(torch.tensor([0.0, 0.5, 0.1, 0.1]))
            self.fc.weight[:, 1] = torch.tensor([4.0, -4.0, 0.0])

    def forward(self, x):
        return self.fc(F.adaptive_avg_pool2d(F.relu(self.bn(self.conv(x))), 1).flatten(1))


def random_batches(n=3, size=16, seed=0):
    g = torch.Generator().manual_seed(seed)
    return [(torch.rand(size, 3, 8, 8, generator=g), torch.randint(0, 3, (size,), generator=g)) for _ in range(n)]
