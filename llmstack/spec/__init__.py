"""The stack spec: pydantic models (:mod:`.models`), YAML loading (:mod:`.loading`) and
catalog resolution (:mod:`.resolving`)."""
