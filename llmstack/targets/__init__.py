"""Deploy targets: Pulumi components for Kubernetes (:mod:`.kubernetes`) and one Docker host
(:mod:`.docker`). Both map generated artifacts to resources; neither validates or computes."""
