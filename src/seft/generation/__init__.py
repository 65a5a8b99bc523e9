"""Generation backends behind one ``Generator`` protocol (heavy imports happen lazily)."""
from .base import Generator, SamplingParams, sampling_params
from .factory import GeneratorCache, build_generator, check_backend

__all__ = ["Generator", "GeneratorCache", "SamplingParams", "build_generator", "check_backend", "sampling_params"]
