"""The one exception of the client."""


class PoolError(Exception):
    """An error from talking to a FlowPool pool.

    ``code`` is the coordinator's error code when it refused a request (``forbidden``, ``pool_full``,
    ``not_found``, ``already_finished``, ``draining``, ``busy``, ``bad_request``, …, see docs/PROTOCOL.md,
    "error"), the code of a failed run's error for :meth:`Client.run` (``flow_failed``, ``attempts_exhausted``,
    ``deadline_exceeded``, ``cancelled``, …), or one of the client's own:

    - ``timeout``: no answer in time (the message says what to check);
    - ``protocol_error``: an answer the client could not read;
    - ``closed``: the client or stream is closed.

    ``message`` says what happened in words a person can act on; ``result`` is the :class:`RunResult` of a
    failed run (from :meth:`Client.run`), else ``None``.
    """

    def __init__(self, code, message, result=None):
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.result = result
