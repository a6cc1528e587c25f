"""Autoscaling: the HPA algorithm, predictive pre-scaling and the load-trace simulator.

No web framework here: the CLI (`autoscale simulate`) and the benchmark drive `service.compare`;
the app exports the forecast replicas through `prescaling`.
"""
