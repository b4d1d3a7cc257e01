"""Where and how torch runs: the device, and seeded, deterministic, fixed-thread sessions.

torch is imported inside each function, so importing the forecaster stays cheap.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from zlflow.errors import ModelError

if TYPE_CHECKING:
    import torch

DEVICES = ("auto", "cpu", "cuda", "mps")


def resolve_device(name: str) -> torch.device:
    """``auto`` picks CUDA, then Apple MPS, then CPU; a named device must exist."""
    import torch

    if name not in DEVICES:
        raise ModelError(f"tft device must be one of {list(DEVICES)}, got {name!r}")
    cuda = torch.cuda.is_available()
    mps = torch.backends.mps.is_available()
    if name == "auto":
        name = "cuda" if cuda else "mps" if mps else "cpu"
    if (name == "cuda" and not cuda) or (name == "mps" and not mps):
        raise ModelError(f"tft device {name!r} is not available here; use 'auto' or 'cpu'")
    return torch.device(name)


@contextmanager
def torch_session(threads: int, seed: int, device: torch.device) -> Iterator[None]:
    """Seeded, deterministic, fixed-thread torch; global settings restored afterwards.

    Fully deterministic on CPU. On CUDA and MPS some kernels have no deterministic
    version, so they warn instead of failing (and cuDNN LSTMs may differ in the last bits).
    Deterministic mode's filling of every new tensor with NaN is switched off: it guards
    against kernels that read memory they never wrote, which this network does not use,
    and it cost ~600 extra fills per training step.
    """
    import torch
    import torch.utils.deterministic

    threads_before = torch.get_num_threads()
    deterministic = torch.are_deterministic_algorithms_enabled()
    warn_only = torch.is_deterministic_algorithms_warn_only_enabled()
    fill = torch.utils.deterministic.fill_uninitialized_memory
    fork = (
        torch.random.fork_rng(device_type=device.type)
        if device.type in ("cuda", "mps")
        else torch.random.fork_rng(devices=[])
    )
    try:
        with fork:
            torch.set_num_threads(threads)
            _set_deterministic(True, warn_only=device.type != "cpu")
            torch.utils.deterministic.fill_uninitialized_memory = False
            torch.manual_seed(seed)
            yield
    finally:
        torch.set_num_threads(threads_before)
        _set_deterministic(deterministic, warn_only=warn_only)
        torch.utils.deterministic.fill_uninitialized_memory = fill


def _set_deterministic(mode: bool, warn_only: bool) -> None:
    """``torch.use_deterministic_algorithms`` without its import of ``torch._inductor``.

    That import only serves torch.compile's setting (unused here), yet pulls in sympy and
    adds ~70 MB to every process that trains or predicts. Eager kernels read the C flag.
    """
    import torch

    setter = getattr(torch._C, "_set_deterministic_algorithms", None)
    if setter is None:  # a torch without the private switch: the public call still works
        torch.use_deterministic_algorithms(mode, warn_only=warn_only)
    else:
        setter(mode, warn_only=warn_only)


def to_device(tensor: torch.Tensor | None, device: torch.device) -> torch.Tensor | None:
    """``tensor.to(device)``, passing None (no known inputs) through."""
    return None if tensor is None else tensor.to(device)
