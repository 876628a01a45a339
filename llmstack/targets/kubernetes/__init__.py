"""The Kubernetes target: manifest builders (plain dicts), Pulumi components that deploy them,
``render`` (the same objects as YAML files) and ``program.build`` (what ``infra/__main__.py`` runs).

Flow: :mod:`.objects` gathers every object of a stack from the builders in :mod:`.engines`,
:mod:`.routing`, :mod:`.observability`, :mod:`.networking` and :mod:`.batch`;
:mod:`.rendering` writes them, :mod:`.components` hands them to pulumi-kubernetes.
"""
