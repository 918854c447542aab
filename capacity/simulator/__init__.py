"""A second-by-second model of one endpoint's copies, instances, queue, latency and cost."""
