"""``llmstack demo``: the whole loop on one machine, 127.0.0.1 only.

Simulated vLLM replicas (:mod:`llmstack.sim`), the real HAProxy router and the real
Prometheus (with the generated config and rules), a replayed trace, and the policy
engine applying its decisions to a local stack file and reconciling the processes.
"""
