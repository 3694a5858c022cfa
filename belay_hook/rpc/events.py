"""Events from the board: board code calls ``emit(topic, value)``, host handlers run.

Board side::

    #@mcu
    from belay_hook import emit      # provided by the agent on the board

    emit("button", pin.value())      # from a call, a thread, a timer, an IRQ

Host side::

    @belay_hook.on_event("button")
    def pressed(value): ...

Handlers run on one background thread, in the order the events were sent, so
a slow handler never holds up a call in flight. Each session reads the board
between calls too (its channel's idle reader), so events arrive while the host idles.
"""

from __future__ import annotations

import queue
import sys
import threading
from typing import Any, Callable, Dict, List

_handlers: Dict[str | None, List[Callable]] = {}
_queue: queue.Queue[tuple] = queue.Queue()
_lock = threading.Lock()
_dispatcher: threading.Thread | None = None
_unhandled: set = set()


def on_event(topic: str | None = None, handler: Callable | None = None) -> Callable:
    """Register ``handler(value)`` for ``topic`` (``handler(topic, value)`` for all topics).

    Usable as a decorator: ``@on_event("button")``.
    """
    if handler is None:
        return lambda fn: on_event(topic, fn)
    with _lock:
        _handlers.setdefault(topic, []).append(handler)
    return handler


def remove_handler(topic: str | None, handler: Callable) -> None:
    """Stop calling ``handler`` for ``topic``."""
    with _lock:
        if handler in _handlers.get(topic, []):
            _handlers[topic].remove(handler)


def dispatch(topic: str, value: Any) -> None:
    """Queue an event for the handlers; called by a session's reader."""
    _queue.put((topic, value))
    _ensure_dispatcher()


def wait_idle(timeout: float = 5.0) -> bool:
    """Wait until every queued event has been handled (for tests and orderly exits)."""
    done = threading.Event()
    _queue.put((None, done))
    _ensure_dispatcher()
    return done.wait(timeout)


def _ensure_dispatcher() -> None:
    global _dispatcher
    with _lock:
        if _dispatcher is None or not _dispatcher.is_alive():
            _dispatcher = threading.Thread(target=_run, name="belay_hook events", daemon=True)
            _dispatcher.start()


def _run() -> None:
    while True:
        topic, value = _queue.get()
        if topic is None:  # wait_idle's marker
            value.set()
            continue
        with _lock:
            specific = list(_handlers.get(topic, []))
            general = list(_handlers.get(None, []))
        if not specific and not general and topic not in _unhandled:
            _unhandled.add(topic)
            print(f"belay_hook: event {topic!r} from the board has no handler", file=sys.stderr)
        for handler in specific:
            _call(handler, value)
        for handler in general:
            _call(handler, topic, value)


def _call(handler: Callable, *args: Any) -> None:
    try:
        handler(*args)
    except Exception:  # noqa: BLE001 - one handler's bug must not stop the others
        import traceback

        print(f"belay_hook: event handler {handler!r} failed:", file=sys.stderr)
        traceback.print_exc()
