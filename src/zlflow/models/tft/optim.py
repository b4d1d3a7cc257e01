"""AdamW over one flat buffer of all parameters: a few kernels per step and no torch.optim.

torch.optim imports torch._dynamo (and with it sympy) on first use, ~70 MB in every
process that trains, and updates each of the network's ~150 small parameter tensors
with its own kernels. Here the parameters and their gradients become views of two flat
tensors, so zeroing, gradient-norm clipping and the AdamW update are each a handful of
whole-buffer operations. The update is torch.optim.AdamW's: decoupled weight decay and
bias-corrected moments, with the same defaults.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import torch
from torch import Tensor, nn


class FlatAdamW:
    """AdamW for ``parameters``, which it re-seats as views of one flat buffer.

    Autograd then accumulates gradients in place into the flat gradient buffer, so the
    gradients must be zeroed with ``zero_grad`` (never set to None) between steps.
    """

    def __init__(
        self,
        parameters: Iterable[nn.Parameter],
        lr: float,
        weight_decay: float,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
    ) -> None:
        params = [p for p in parameters if p.requires_grad]
        if not params:
            raise ValueError("FlatAdamW got no trainable parameters")
        self.lr, self.weight_decay, self.betas, self.eps = lr, weight_decay, betas, eps
        like = params[0]
        self.flat = torch.cat([p.detach().reshape(-1) for p in params]).to(like.device)
        self.grad = torch.zeros_like(self.flat)
        offset = 0
        with torch.no_grad():
            for p in params:
                size = p.numel()
                p.data = self.flat[offset : offset + size].view_as(p)
                p.grad = self.grad[offset : offset + size].view_as(p)
                offset += size
        self.exp_avg = torch.zeros_like(self.flat)
        self.exp_avg_sq = torch.zeros_like(self.flat)
        self.steps = 0

    def zero_grad(self) -> None:
        self.grad.zero_()

    def clip_grad_norm(self, max_norm: float) -> Tensor:
        """``torch.nn.utils.clip_grad_norm_`` over all gradients: scale them to ``max_norm``."""
        norm = torch.linalg.vector_norm(self.grad)
        self.grad.mul_(torch.clamp(max_norm / (norm + 1e-6), max=1.0))
        return norm

    @torch.no_grad()
    def step(self) -> None:
        self.steps += 1
        beta1, beta2 = self.betas
        self.flat.mul_(1.0 - self.lr * self.weight_decay)
        self.exp_avg.lerp_(self.grad, 1.0 - beta1)
        self.exp_avg_sq.mul_(beta2).addcmul_(self.grad, self.grad, value=1.0 - beta2)
        step_size = self.lr / (1.0 - beta1**self.steps)
        denom = (self.exp_avg_sq.sqrt() / math.sqrt(1.0 - beta2**self.steps)).add_(self.eps)
        self.flat.addcdiv_(self.exp_avg, denom, value=-step_size)
