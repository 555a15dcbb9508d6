"""Whether model hubs are reachable, checked quickly and once per process.

Downloading libraries retry for tens of seconds when offline; asking first keeps
an offline machine's start-up and first vintage job fast.
"""

from __future__ import annotations

import socket
from functools import lru_cache

HUB_HOSTS = ("huggingface.co", "dl.fbaipublicfiles.com")


@lru_cache(maxsize=1)
def hubs_reachable(timeout: float = 2.0) -> bool:
    for host in HUB_HOSTS:
        try:
            with socket.create_connection((host, 443), timeout=timeout):
                return True
        except OSError:
            continue
    return False
