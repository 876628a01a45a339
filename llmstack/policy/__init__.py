"""The policy engine: decide horizontal, vertical and variant changes from signals, guard, apply, audit.

``rules`` (policies/*.yaml as pydantic), ``deciding`` (pure: snapshot + state -> recommendations),
``guards`` (small functions applied after deciding), ``predicting`` (the capacity model's view of a
change), ``applying`` (writes ``llmstack:scaling`` and runs Pulumi), ``audit`` (JSONL), ``loop``
(read -> decide -> apply -> audit) and ``autoscaler`` (the policy behind the simulator's autoscaler
interface; :mod:`llmstack.experiments.registry` hands it to the simulator: ``policy`` never
imports ``sim``).
"""
