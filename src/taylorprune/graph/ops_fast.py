"""Fast paths: timm layers handled whole (see ``registry.register_fast_path``).

Each is also understood op by op (a BatchNormAct2d traced through is F.batch_norm and an
activation), except the TF-"SAME" layers, whose padding arithmetic on input sizes
torch.fx cannot trace: as leaves they are convs and pools whose padding only touches the
spatial dims. Classes are named, not imported, so timm stays optional.
"""

from __future__ import annotations

import torch.fx as fx
from torch import nn

from . import ops_layers, ops_pointwise
from .context import Context, Value
from .registry import register_fast_path, resolve_module

_NORM_ACT = "timm.layers.norm_act."


def _channelwise_tail(module: nn.Module) -> bool:
    """Its activation and drop layers act on each element alone (ReLU, SiLU, Identity...)."""
    tail = [getattr(module, "act", None), getattr(module, "drop", None)]
    return all(m is not None and resolve_module(m, _UNARY) is ops_pointwise.unary for m in tail)


_UNARY = {t: ops_pointwise.unary for t in ops_pointwise.UNARY_MODULES}

for _name in ("BatchNormAct2d", "SyncBatchNormAct", "FrozenBatchNormAct2d"):
    register_fast_path(_NORM_ACT + _name, nn.BatchNorm2d, _channelwise_tail)(ops_layers.batch_norm)
for _name in ("GroupNormAct", "GroupNorm1Act"):
    register_fast_path(_NORM_ACT + _name, nn.GroupNorm, _channelwise_tail)(ops_layers.group_norm)
register_fast_path("timm.layers.conv2d_same.Conv2dSame", nn.Conv2d)(ops_layers.conv)
register_fast_path("timm.layers.pool2d_same.MaxPool2dSame", nn.MaxPool2d)(ops_pointwise.spatial)
register_fast_path("timm.layers.pool2d_same.AvgPool2dSame", nn.AvgPool2d)(ops_pointwise.spatial)


@register_fast_path("timm.layers.std_conv.StdConv2dSame", nn.Conv2d)
@register_fast_path("timm.layers.std_conv.ScaledStdConv2dSame", nn.Conv2d)
def std_conv(ctx: Context, node: fx.Node) -> Value:
    """A conv whose weight is standardised over its fan-in before use: removing an input
    channel changes every kept weight, so input-side removal is not exact. The per-output
    gain of ScaledStdConv2dSame is sliced with the output channels."""
    out = ops_layers.conv(ctx, node)
    m = ctx.module(node)
    x = ctx.value(node.args[0])
    if getattr(m, "groups", 1) == 1 and x is not None:
        ctx.mark_inexact(x, f"{node.name}: {node.target}.weight is standardised over its input "
                         "channels, so removing one changes the others' weights")
    if getattr(m, "gain", None) is not None and out is not None:
        ctx.member(f"{node.target}.gain", 0, out.ids, "scale")
    return out
