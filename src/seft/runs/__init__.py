"""Whole runs, composed from the stages below: the pipeline, seeds, baselines and their sweep, the
data-scaling curve, comparison across runs, and export of a round's policy."""
