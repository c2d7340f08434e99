"""Read models built from the event log: the runner, the projections, readers, metrics."""
