"""Generated artifacts: pure functions from a stack spec to the text and data the targets deploy.

vLLM server arguments (:mod:`vllm_args`), the HAProxy router configuration (:mod:`haproxy`),
Prometheus scrape configuration and rules (:mod:`prometheus`), Grafana dashboards
(:mod:`grafana`), the labels that tie them together (:mod:`labels`) and the pinned container
images (:mod:`images`). Nothing here touches files, the network or Pulumi: the Kubernetes and
Docker targets pass this data to resources, and ``llmstack render --target artifacts``
(:mod:`bundle`) writes it to files.
"""
