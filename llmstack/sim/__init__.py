"""Fleet simulator: the stand-in for running vLLM engines.

Offline, :mod:`llmstack.sim.fleet` replays a trace (:mod:`llmstack.sim.traces`) through replicas
modelled by :mod:`llmstack.sim.engine` behind a balancer, lets an autoscaler
(:mod:`llmstack.sim.autoscaling`, :mod:`llmstack.sim.autoscalers`) resize the fleet from the same
signals Prometheus would give, and :mod:`llmstack.sim.scoring` scores the run. Live,
:mod:`llmstack.sim.server` serves OpenAI-style requests from simulated replicas and exports
vLLM-format ``/metrics``.
"""
