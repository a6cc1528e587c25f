"""Chaos experiments against real local processes (issue 14, section 2): Chaos Toolkit
experiments in `experiments/`, their actions, probes and control here, run by `make chaos`
(`python -m chaos`). See docs/chaos.md."""
