"""Fleet simulator: the stand-in for running vLLM engines.

Offline, :mod:`llmstack.sim.fleet` replays a trace (:mod:`llmstack.sim.traces`) through replicas
modelled by :mod:`llmstack.sim.engine` behind a balancer, lets an autoscaler
(the protocol in :mod:`llmstack.sim.protocol`; baselines in :mod:`llmstack.sim.baselines`, the
oracle bound in :mod:`llmstack.sim.oracle`) resize the fleet from the same signals Prometheus
would give, and move it to another variant, pool or TP (:mod:`llmstack.sim.moves`), and
:mod:`llmstack.sim.scoring` scores the run. The registry of named autoscalers,
the policy engine's included, is :mod:`llmstack.experiments.registry` (``sim`` never imports
``policy``). Live, :mod:`llmstack.sim.server` serves OpenAI-style requests from simulated
replicas and exports vLLM-format ``/metrics``.
"""
