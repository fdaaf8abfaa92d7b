"""Wire details of docs/PROTOCOL.md: addresses, JSON frames, CURVE keys, topic patterns, event batches."""

import json
import os
import struct
from dataclasses import dataclass

import zmq
import zmq.auth

from .errors import PoolError

DEFAULT_CONTROL_PORT = 5570
SYNC_PREFIX = b"\x00sync/"
BATCH_PREFIX = b"\x01batch/"
TERMINAL_TYPES = frozenset(("final", "error", "cancelled"))


def encode(message):
    """One JSON frame (RFC 8259: no NaN or Infinity)."""
    return json.dumps(message, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode()


def decode(frame):
    """A JSON object from a frame, or raises PoolError ``protocol_error``."""
    try:
        message = json.loads(frame)
    except (ValueError, UnicodeDecodeError) as error:
        raise PoolError("protocol_error", f"a message from the coordinator is not JSON: {error}") from None
    if not isinstance(message, dict):
        raise PoolError("protocol_error", "a message from the coordinator is not a JSON object")
    return message


def control_endpoint(coordinator):
    """``host``, ``host:port``, ``[v6]:port`` or ``tcp://host:port`` as a ZeroMQ endpoint (port 5570 by default)."""
    address = coordinator.strip()
    if "://" in address:
        return address
    if address.startswith("["):
        close = address.find("]")
        if close < 0:
            raise ValueError(f"bad coordinator address {coordinator!r}")
        return f"tcp://{address}" if address[close + 1 :].startswith(":") else f"tcp://{address}:{DEFAULT_CONTROL_PORT}"
    if address.count(":") == 1:
        return f"tcp://{address}"
    if ":" in address:  # a bare IPv6 address
        return f"tcp://[{address}]:{DEFAULT_CONTROL_PORT}"
    return f"tcp://{address}:{DEFAULT_CONTROL_PORT}"


def endpoint_host(endpoint):
    """The host part of ``tcp://host:port`` (brackets of an IPv6 address kept)."""
    rest = endpoint.split("://", 1)[-1]
    return rest.rsplit(":", 1)[0] if ":" in rest else rest


def join_host_port(host, port):
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"
    return f"tcp://{host}:{port}"


@dataclass(frozen=True)
class CurveKeys:
    """This peer's key pair and the coordinator's public key (Z85, as bytes)."""

    public: bytes
    secret: bytes
    server: bytes

    def secure(self, sock):
        """Makes ``sock`` a CURVE client of the coordinator (call before ``connect``)."""
        sock.curve_secretkey = self.secret
        sock.curve_publickey = self.public
        sock.curve_serverkey = self.server
        return sock


def load_keys(key_file, coordinator_key):
    """The keys for a pool with CURVE keys, or None for one without.

    ``key_file`` is this peer's ``NAME.key_secret``; ``coordinator_key`` the coordinator's ``coordinator.key``
    or its 40-character public key.
    """
    if key_file is None and coordinator_key is None:
        return None
    if key_file is None or coordinator_key is None:
        raise ValueError(
            "a pool with keys needs both key_file (this client's NAME.key_secret) and coordinator_key "
            "(coordinator.key, or the coordinator's 40-character public key)"
        )
    if not zmq.has("curve"):
        raise PoolError("protocol_error", f"this libzmq ({zmq.zmq_version()}) has no CURVE support")
    public, secret = zmq.auth.load_certificate(os.fspath(key_file))
    if secret is None:
        raise ValueError(f"{key_file} holds no secret key: give NAME.key_secret, not NAME.key")
    if isinstance(coordinator_key, bytes):
        coordinator_key = coordinator_key.decode()
    coordinator_key = os.fspath(coordinator_key)
    if len(coordinator_key) == 40 and not os.path.exists(coordinator_key):
        server = coordinator_key.encode()
    else:
        server, _ = zmq.auth.load_certificate(coordinator_key)
    return CurveKeys(public=public, secret=secret, server=server)


def pattern_prefix(pattern):
    """The topic prefix of a pattern (docs/PROTOCOL.md, "Subscribing").

    ``ns`` → ``ns/``; ``ns/run`` → ``ns/run/``; ``prefix*`` → ``prefix``; ``*`` → everything.
    """
    if not isinstance(pattern, str) or not pattern:
        raise ValueError('a pattern is NS, NS/RUN or PREFIX*; "*" for everything')
    if pattern.endswith("*"):
        body = pattern[:-1]
        if "*" in body:
            raise ValueError(f"pattern {pattern!r}: '*' may only end a pattern")
        return body.encode()
    parts = pattern.split("/")
    if "*" in pattern or len(parts) > 2 or not all(parts):
        raise ValueError(f"pattern {pattern!r} must be NS, NS/RUN or PREFIX*")
    return (pattern + "/").encode()


def selects_whole_namespaces(prefix):
    """Whether a topic prefix selects whole namespaces (no ``/`` before its end): batches carry exactly those."""
    slash = prefix.find(b"/")
    return slash < 0 or slash == len(prefix) - 1


def unpack_batch(body):
    """The (topic, envelope) pairs of an event batch; raises ValueError when its lengths run past its end."""
    pairs = []
    i, end = 0, len(body)
    while i < end:
        frames = []
        for _ in range(2):
            if i + 4 > end:
                raise ValueError("truncated event batch")
            (n,) = struct.unpack_from("<I", body, i)
            i += 4
            if i + n > end:
                raise ValueError("truncated event batch")
            frames.append(bytes(body[i : i + n]))
            i += n
        pairs.append((frames[0], frames[1]))
    return pairs


def decode_event(envelope):
    """The envelope of an event as a dict, or None when it is not a valid event."""
    try:
        e = json.loads(envelope)
    except (ValueError, UnicodeDecodeError):
        return None
    if not isinstance(e, dict):
        return None
    ns, run, attempt, seq, kind = e.get("ns"), e.get("run"), e.get("attempt"), e.get("seq"), e.get("type")
    if not (isinstance(ns, str) and isinstance(run, str) and isinstance(kind, str)):
        return None
    if type(attempt) is not int or type(seq) is not int or attempt < 1 or seq < 1:
        return None
    return e
