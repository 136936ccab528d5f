"""How this package starts a local Ray cluster (shared by the Ray extraction engine and the GA's Ray fitness).

Ray is never imported here: this only says which ``ray.init`` options a cluster started by this
process gets, so both callers start it the same, safe way.
"""

from __future__ import annotations

from typing import Any, Optional

#: The only interface a cluster started by this process listens on.
LOCAL_NODE_IP = "127.0.0.1"


def local_cluster_options(address: Optional[str]) -> dict[str, Any]:
    """``ray.init`` keyword options for ``address``.

    ``None`` or ``"local"`` starts a new local cluster: it binds to 127.0.0.1 only and runs no dashboard, so
    nothing else on the network can reach it. Joining an existing cluster (``"auto"``,
    ``"ray://host:port"``) adds nothing: that cluster's own settings apply.
    """
    if address not in (None, "local"):
        return {}
    return {"include_dashboard": False, "_node_ip_address": LOCAL_NODE_IP}
