"""Docker target: one GPU host managed through its Docker engine (pulumi-docker) or a compose bundle."""
