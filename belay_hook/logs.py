"""belay_hook's log on stderr, for ``belay-hook -v``: one handler on the ``belay_hook`` logger.

Every module logs to a child of ``belay_hook`` named after itself
(``belay_hook.board.link``, ``belay_hook.rpc.framing`` ...); a program using the
library routes them with the standard ``logging`` configuration instead.
"""

from __future__ import annotations

import logging

_handler: logging.Handler | None = None  # the one show() set, replaced on the next call


def show(verbosity: int) -> None:
    """Log to stderr at INFO (connection steps) for 1, DEBUG (frames too) for 2 or more;
    0 takes back what an earlier call set."""
    global _handler
    logger = logging.getLogger("belay_hook")
    if _handler is not None:
        logger.removeHandler(_handler)
        logger.setLevel(logging.NOTSET)
        _handler = None
    if not verbosity:
        return
    _handler = logging.StreamHandler()
    _handler.setFormatter(logging.Formatter("%(relativeCreated)6.0f ms %(name)s: %(message)s"))
    logger.addHandler(_handler)
    logger.setLevel(logging.INFO if verbosity == 1 else logging.DEBUG)
