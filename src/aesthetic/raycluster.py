"""How this package starts a local Ray cluster (shared by the Ray extraction engine and the GA's Ray fitness).

Ray is imported only inside ``init_ray``, so importing this module stays light.

What a local cluster exposes (measured with Ray 2.60 on Linux, ``psutil`` listing the listening
sockets of the processes ``ray.init`` starts): by default the GCS server, the raylet and the
workers listen on every interface (``::``) and the runtime-env agent on the node's routable IP. ``ray.init(_node_ip_address="127.0.0.1")`` does not help: Ray rewrites a loopback node
address to the routable IP (``ray._private.services.resolve_ip_for_localhost``, intentional per
ray-project/ray#26293). Ray's servers bind to the node IP, so what confines them to loopback is
making the node IP 127.0.0.1: Ray's ``RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER`` switch (documented for
multi-node clusters on Windows/macOS), set to 0, makes ``get_node_ip_address`` answer the loopback
IP, as Ray does by default on a laptop. ``init_ray`` turns it on while it starts a local cluster
(every process of that cluster, started then, inherits it) and restores it after, so joining a
real cluster later in the same process is unaffected. ``tests/test_ray_scaleout.py`` checks that
every listening socket of a started local cluster is a loopback one.

Also: no dashboard (an HTTP server), and Ray's token authentication, which Ray 2.60 turns on by
default, keeps its token file readable by its owner only (Ray writes ``~/.ray/auth_token`` 0644).
"""

from __future__ import annotations

import os
import stat
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator, Optional

#: Where Ray 2.60 keeps the token of its token authentication.
TOKEN_FILE = Path("~/.ray/auth_token")

#: Ray's switch that, set to "0", makes the node IP the loopback IP (see the module docstring).
LOOPBACK_SWITCH = "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"


def is_local(address: Optional[str]) -> bool:
    """Whether ``ray.init(address=...)`` starts a new cluster in this process (None or ``"local"``)."""
    return address in (None, "local")


def local_cluster_options(address: Optional[str]) -> dict[str, Any]:
    """``ray.init`` keyword options for ``address``.

    A cluster this process starts (``None`` or ``"local"``) runs no dashboard. Joining an existing
    cluster (``"auto"``, ``"ray://host:port"``) adds nothing: that cluster's own settings apply.
    """
    return {"include_dashboard": False} if is_local(address) else {}


@contextmanager
def loopback_node_ip() -> Iterator[None]:
    """While inside, a Ray node started by this process takes 127.0.0.1 as its IP (so its servers
    listen on loopback only); the environment and Ray's constant are restored on exit."""
    before = os.environ.get(LOOPBACK_SWITCH)
    os.environ[LOOPBACK_SWITCH] = "0"
    constants = sys.modules.get("ray._private.ray_constants")  # read once when ray is imported
    constant_before = getattr(constants, "ENABLE_RAY_CLUSTER", None)
    if constants is not None:
        constants.ENABLE_RAY_CLUSTER = False
    try:
        yield
    finally:
        if before is None:
            os.environ.pop(LOOPBACK_SWITCH, None)
        else:
            os.environ[LOOPBACK_SWITCH] = before
        if constants is not None:
            constants.ENABLE_RAY_CLUSTER = constant_before


def init_ray(address: Optional[str], **options: Any) -> Any:
    """``ray.init(address=address, **options)`` the one way this package starts or joins Ray.

    A local cluster (``address`` None or ``"local"``) runs no dashboard and listens on loopback only;
    joining an existing cluster adds nothing. Either way the token file is made private afterwards.
    Returns what ``ray.init`` returns.
    """
    import ray
    import ray._private.ray_constants  # noqa: F401 - loaded so loopback_node_ip can set its constant

    if is_local(address):
        with loopback_node_ip():
            context = ray.init(address=address, **options, **local_cluster_options(address))
    else:
        context = ray.init(address=address, **options)
    protect_token_file()
    return context


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
