"""Where a training run computes and in what precision: one rule for every trainer.

Both trainers (``train midi`` and ``train image-lora``) hand ``--device`` and
``--mixed-precision`` to accelerate; the checks and the ``auto`` choice live here so the
two commands accept the same values and pick the same precision on the same machine.
"""

from __future__ import annotations

from scenewright.errors import InputError

DEVICES = ("auto", "cpu", "cuda")
PRECISIONS = ("auto", "no", "bf16", "fp16")


def check_device_options(device: str, mixed_precision: str, command: str) -> None:
    """Raise ``InputError`` naming ``command`` when an option is not one we accept, or when
    ``--device cuda`` is asked for on a machine whose torch sees no CUDA device."""
    if mixed_precision not in PRECISIONS:
        raise InputError(f"{command}: --mixed-precision must be auto, no, bf16 or fp16, got {mixed_precision!r}")
    if device not in DEVICES:
        raise InputError(f"{command}: --device must be auto, cpu or cuda, got {device!r}")
    if device == "cuda":
        import torch
        if not torch.cuda.is_available():
            raise InputError(f"{command}: --device cuda, but torch sees no CUDA device (use --device cpu)")


def resolve_accelerator(device: str, mixed_precision: str, command: str) -> tuple[str, bool]:
    """``(mixed_precision, cpu)`` for ``accelerate.Accelerator`` on this machine.

    ``auto`` precision is bf16 on a CUDA device that supports it, else full precision
    ("no"): bf16 on a CPU is slower than float32 (measured in docs/text.md).
    """
    import torch
    check_device_options(device, mixed_precision, command)
    cuda = torch.cuda.is_available() and device != "cpu"
    if mixed_precision == "auto":
        mixed_precision = "bf16" if cuda and torch.cuda.is_bf16_supported() else "no"
    return mixed_precision, not cuda
