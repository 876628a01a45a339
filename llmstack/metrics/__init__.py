"""Reading the signals of a running stack from Prometheus.

:mod:`llmstack.metrics.queries` builds the PromQL (pure); :mod:`llmstack.metrics.reading`
runs it once per signal per cycle for all deployments and turns the answers into one
:class:`~llmstack.metrics.reading.SignalSnapshot` per deployment. The policy engine
(:mod:`llmstack.policy`) is the caller.
"""
