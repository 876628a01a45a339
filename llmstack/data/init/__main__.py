"""The Pulumi program of this llmstack project (written by ``llmstack init``).

Everything comes from the stack configuration, ``Pulumi.<stack>.yaml``: ``llmstack:spec``
(the stack spec: a path, or the spec inline), ``llmstack:target`` (kubernetes | docker),
``llmstack:scaling`` (what ``llmstack apply`` writes) and the secret ``llmstack:hfToken``.
"""

from pathlib import Path

from llmstack.targets import program

program.main(Path(__file__).resolve().parent)
