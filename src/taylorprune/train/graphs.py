"""A training step captured once in a CUDA graph and replayed for every later mini-batch.

At MATLAB's mini-batch of 128 a ResNet-20 step is launch-bound: hundreds of small kernels,
each launched from Python. Replaying a captured graph launches them all at once. Shapes are
fixed inside a graph, so a physically pruned network is captured anew (each fine-tuning
call builds its own step); the last, partial mini-batch of an epoch is dropped anyway.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable

import torch

from ..errors import first_line

Step = Callable[[torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]]
WARMUP_STEPS = 3  # eager steps on a side stream before capture, as torch.cuda.graphs asks


class GraphedStep:
    """Runs ``step`` eagerly for WARMUP_STEPS calls, then captures it and replays the graph.

    ``step(x, y)`` must do the whole update (forward, backward, optimizer step) with every
    changing hyper-parameter held in a device tensor, and return (loss, hits) tensors.
    If capture fails (an op the network uses cannot be captured), the step stays eager and
    ``failure`` says why; training goes on unchanged.
    """

    def __init__(self, step: Step) -> None:
        self.step = step
        self.calls = 0
        self.graph: torch.cuda.CUDAGraph | None = None
        self.failure: str | None = None
        self._static: tuple[torch.Tensor, ...] = ()
        self._side = torch.cuda.Stream()

    def __call__(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        self.calls += 1
        if self.graph is not None:
            sx, sy, loss, hits = self._static
            sx.copy_(x)
            sy.copy_(y)
            self.graph.replay()
            return loss.clone(), hits.clone()
        if self.failure is not None or self.calls <= WARMUP_STEPS:
            return self._eager(x, y)
        return self._capture(x, y)

    def _eager(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if self.failure is not None:
            return self.step(x, y)
        self._side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(self._side), warnings.catch_warnings():
            # Adam built capturable warns when stepped outside a graph: these steps are the warm-up.
            warnings.filterwarnings("ignore", message=".*capturable=True.*")
            out = self.step(x, y)
        torch.cuda.current_stream().wait_stream(self._side)
        return out

    def _capture(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        sx, sy = x.clone(), y.clone()
        graph = torch.cuda.CUDAGraph()
        try:
            with torch.cuda.graph(graph):
                loss, hits = self.step(sx, sy)
        except RuntimeError as err:
            self.failure = first_line(err)
            warnings.warn(f"CUDA graph capture of the training step failed ({self.failure}); "
                          "training goes on without graphs (set cuda_graphs=False to skip the attempt)",
                          RuntimeWarning, stacklevel=2)
            torch.cuda.synchronize()
            return self.step(x, y)
        self.graph, self._static = graph, (sx, sy, loss, hits)
        graph.replay()  # capture only recorded the step: run it for this mini-batch
        return loss.clone(), hits.clone()
