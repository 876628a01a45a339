"""Real vLLM in the loop: the tiny offline model (:mod:`.tiny_model`) and the CPU engine launcher
(:mod:`.launcher`), shared by the engine tests, the demo (``--engine vllm``) and the benchmarks."""
