"""Training stages. Importing this package is cheap: torch/TRL load inside the functions."""
from .sft import METRICS_FILE, TrainResult, build_sft_trainer, to_conversational, train_sft

__all__ = [
           "METRICS_FILE",
           "TrainResult",
           "build_sft_trainer",
           "to_conversational",
           "train_sft",
]
