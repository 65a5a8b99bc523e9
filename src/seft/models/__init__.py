"""Everything about a model folder: the registry of shipped models and its fetcher, loading full
models and adapters, precision, parameter counts, saving full weights, chat templates and the
tokens that end a turn. Both engines (generation, training) stand on this package."""
