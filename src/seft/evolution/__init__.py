"""The policy's self-evolution: the round loop, the prompt sources and the selection of training examples."""
