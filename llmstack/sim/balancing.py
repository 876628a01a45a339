"""Hash balancing of the fleet simulator: the router's session_affinity and prefix_hash strategies.

The router hashes a key onto a consistent ring of servers (HAProxy ``hash-type consistent``);
here rendezvous hashing plays the ring's part (same property: a replica joining or leaving moves
only the keys it takes or held). prefix_hash adds HAProxy's ``hash-balance-factor``: a replica
already holding ``factor`` times the average in-flight load is passed over for the next one in
the key's order (bounded-load consistent hashing), so a prompt start that every request shares
does not put the whole fleet's work on one replica.

Keys: prefix_hash hashes the first 512-token prefix block of a Mooncake request (``hash_ids[0]``:
the prompt start, like the router's first ``prefix_hash_bytes``); a request without block
hashes, and every request for session_affinity (traces carry no session), is keyed by its id.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence


def _score(key: int, replica: int) -> int:
    digest = hashlib.blake2b(f"{key}:{replica}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big")


def order(key: int, replicas: Sequence[int]) -> list[int]:
    """Positions into ``replicas`` (replica ids), best first for ``key``."""
    return sorted(range(len(replicas)), key=lambda i: -_score(key, replicas[i]))


def pick(key: int, replicas: Sequence[int], loads: Sequence[int], balance_factor: float | None) -> int:
    """Position of the replica ``key`` goes to; ``balance_factor`` None: pure consistent hashing."""
    ranked = order(key, replicas)
    if balance_factor is None:
        return ranked[0]
    cap = math.ceil(balance_factor * (sum(loads) + 1) / len(replicas))
    for position in ranked:
        if loads[position] + 1 <= cap:
            return position
    return ranked[0]
