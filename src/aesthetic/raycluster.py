"""How this package starts a local Ray cluster (shared by the Ray extraction engine and the GA's Ray fitness).

Ray is never imported here: this only says which ``ray.init`` options a cluster started by this
process gets, and tightens what Ray leaves readable, so both callers start it the same way.

What a local cluster exposes (measured with Ray 2.60 on Linux, ``psutil`` listing the listening
sockets of the processes ``ray.init`` starts): the GCS server, the raylet and the workers listen
on every interface (``::``) and the runtime-env agent on the node's IP. ``ray.init`` offers no
option to confine them to loopback: it rewrites ``_node_ip_address="127.0.0.1"`` to the node's
routable IP. What this module does instead: no dashboard (an HTTP server), and Ray's token
authentication, which Ray 2.60 turns on by default, keeps its token file readable by its owner
only (Ray writes ``~/.ray/auth_token`` with mode 0644).
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any, Optional

#: Where Ray 2.60 keeps the token of its token authentication.
TOKEN_FILE = Path("~/.ray/auth_token")


def is_local(address: Optional[str]) -> bool:
    """Whether ``ray.init(address=...)`` starts a new cluster in this process (None or ``"local"``)."""
    return address in (None, "local")


def local_cluster_options(address: Optional[str]) -> dict[str, Any]:
    """``ray.init`` keyword options for ``address``.

    A cluster this process starts (``None`` or ``"local"``) runs no dashboard. Joining an existing
    cluster (``"auto"``, ``"ray://host:port"``) adds nothing: that cluster's own settings apply.
    """
    return {"include_dashboard": False} if is_local(address) else {}


def protect_token_file(path: Path = TOKEN_FILE) -> bool:
    """Make Ray's authentication token readable by its owner only; True when a mode was changed."""
    path = path.expanduser()
    try:
        mode = path.stat().st_mode
    except OSError:
        return False
    if not mode & (stat.S_IRWXG | stat.S_IRWXO):
        return False
    os.chmod(path, stat.S_IRUSR | stat.S_IWUSR)
    return True
