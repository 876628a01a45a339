"""Host llmstack's multi-language components (KubernetesStack, DockerStack) as a Pulumi provider."""

from pulumi.provider.experimental import component_provider_host

from llmstack.targets import provider

if __name__ == "__main__":
    component_provider_host(provider.COMPONENTS, name=provider.PACKAGE, version=provider.version())
