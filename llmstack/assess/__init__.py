"""``llmstack assess``: what an existing environment is doing and which lever helps most."""
