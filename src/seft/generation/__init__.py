"""Generation backends behind one ``Generator`` protocol (heavy imports happen lazily)."""
from .base import Generator, SamplingParams, to_messages
from .factory import GeneratorCache, build_generator, check_backend

__all__ = ["Generator", "GeneratorCache", "SamplingParams", "build_generator", "check_backend", "to_messages"]
