"""The policy engine in the cluster: ``llmstack controller`` and the backends it applies through.

The Kubernetes target deploys it (``controller:`` in the spec, objects in
:mod:`llmstack.targets.kubernetes.controller`); it runs :func:`llmstack.policy.loop.watch`
against the in-cluster Prometheus and hands each cycle's recommendations to one
:class:`~llmstack.controller.backends.ApplyBackend`:

- :mod:`.pulumi_operator`: a merge patch of ``llmstack:scaling`` into ``spec.config`` of a
  Pulumi Kubernetes Operator ``Stack`` (the operator runs ``pulumi up``);
- :mod:`.gitops`: a reviewable commit of the stack file to a git repository;
- :mod:`.desired`: the KEDA fast path, ``llmstack_desired_replicas{deployment}`` on ``/metrics``
  for horizontal moves, the other moves through one of the two above.

:mod:`.service` serves ``/metrics``, ``/healthz`` and ``/readyz``; :mod:`.process` puts it together.
"""
