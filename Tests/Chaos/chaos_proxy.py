"""A loopback TCP proxy between taskwatch and redis-server that the soak
breaks on purpose: cuts, refused connections, blackholes and delayed replies.

One thread runs a selector loop over every connection pair and owns every
socket; faults are requests it carries out. Bytes read from
either side are queued with the time they may be forwarded, so a blackhole
(nothing moves until it ends) and a delay (server-to-client bytes wait) are
the same mechanism: a release time per chunk. A side is not read while the
other side's queue holds more than QUEUE_LIMIT bytes, so a stalled client
backs up into Redis as it would over a real network.

For the checker, the proxy also parses what it delivers to each client and
keeps every `pmessage` it handed to a pattern subscriber (taskwatch --all):
a task none of whose messages reached that socket is --all's admitted blind
spot; one that got a message and never printed a line is a loss.
"""

import collections
import errno
import selectors
import socket
import struct
import threading
import time

QUEUE_LIMIT = 256 * 1024
READ_SIZE = 65536
# What the client can have read is counted in bytes, not guessed from times:
# only bytes its kernel acknowledged (TCP_INFO's tcpi_bytes_acked) reached
# its socket while it was open. Bytes sent after the client closed its end
# are answered with a reset and never acknowledged, though the send that
# wrote them succeeded: after Redis closed the upstream (a restart) the
# proxy still drains its delayed queue to a client it no longer reads, so
# it does not see that client close; counting what it wrote as delivered
# made one message sent to a closed socket a "lost task" (seed 5). Of the
# acknowledged bytes, those still in the client's receive queue when the
# proxy resets the link are unread too (rx_queue in /proc/net/tcp). A clean
# close by the client (FIN) proves it had read everything acknowledged:
# Linux answers a close with unread data by a reset. After the client's own
# reset, anything delivered in the last UNREAD_MARGIN may be unread.
UNREAD_MARGIN = 0.5
TCP_INFO_BYTES_ACKED = 120  # offset of the u64 tcpi_bytes_acked in struct tcp_info (Linux >= 4.1)


class _Replies:
    """Splits a server-to-client RESP stream into replies and keeps the pmessages."""

    def __init__(self):
        self.buffer = bytearray()
        self.position = 0
        self.offset = 0  # stream offset of buffer[0]

    def feed(self, data):
        """Returns (channel, payload, stream offset of its end) for every pmessage `data` completes."""
        self.buffer += data
        messages = []
        while True:
            start = self.position
            try:
                reply = self._reply()
            except IndexError:  # incomplete: wait for more bytes
                self.position = start
                break
            if isinstance(reply, list) and len(reply) == 4 and reply[0] == b"pmessage":
                messages.append((reply[2].decode(), reply[3].decode(), self.offset + self.position))
        del self.buffer[:self.position]
        self.offset += self.position
        self.position = 0
        return messages

    def _reply(self):
        end = self.buffer.find(b"\r\n", self.position)
        if end < 0:
            raise IndexError
        kind, rest = self.buffer[self.position:self.position + 1], bytes(self.buffer[self.position + 1:end])
        self.position = end + 2
        if kind in (b"+", b"-", b":"):
            return rest
        size = int(rest)
        if kind == b"$":
            if size < 0:
                return None
            if len(self.buffer) < self.position + size + 2:
                raise IndexError
            value = bytes(self.buffer[self.position:self.position + size])
            self.position += size + 2
            return value
        if kind == b"*":
            return None if size < 0 else [self._reply() for _ in range(size)]
        raise ValueError("not RESP: %r" % bytes(kind + rest))


class _Pair:
    """A client connection and the upstream connection made for it."""

    def __init__(self, down, up):
        self.down = down
        self.up = up
        self.to_down = collections.deque()  # (release time, bytes)
        self.to_up = collections.deque()
        self.pattern = False  # the client sent PSUBSCRIBE
        self.replies = _Replies()
        self.pmessages = []  # (delivery time, channel, payload, end offset) handed to the client
        self.delivered_bytes = 0
        self.queued = {id(down): 0, id(up): 0}  # bytes waiting to be written to each socket
        self.eof_from = None  # the socket that closed first: flush the other way, then close
        self.client_closed = None  # (time, clean): when the client closed its side first, FIN or reset

    def queue_for(self, sock):
        return self.to_down if sock is self.down else self.to_up


class ChaosProxy:
    """Listens on a free loopback port and forwards to 127.0.0.1:upstream_port."""

    def __init__(self, upstream_port, listen_port):
        self.upstream_port = upstream_port
        self.port = listen_port
        self._lock = threading.Lock()
        self._selector = selectors.DefaultSelector()
        self._pairs = []
        self._listener = None
        self._hold_until = 0.0  # blackhole: nothing is forwarded before this time
        self._delay = 0.0  # seconds added to server-to-client bytes ...
        self._delay_until = 0.0  # ... while now < this
        self._refuse_until = 0.0
        self._cuts = collections.deque()  # pending cut requests: reset or not
        self._stop = False
        self._thread = threading.Thread(target=self._run, name="chaos-proxy", daemon=True)
        self.error = None  # why the proxy's thread stopped, if it failed
        self.accepted = 0
        self.server_closed = 0  # upstream connections Redis closed (kills, buffer limits, restarts)
        self._delivered = []  # (time, channel, payload, maybe unread), from closed pattern links

    def pattern_links(self):
        """How many pattern subscribers' links are open."""
        return sum(1 for pair in list(self._pairs) if pair.pattern)

    def pattern_deliveries(self):
        """Every pmessage handed to a pattern subscriber, as (time, channel, payload,
        maybe_unread); maybe_unread when the client's kernel never acknowledged it
        (it was sent after the client closed), it was still in the client's
        receive queue at the proxy's reset, or the client reset the link itself
        within UNREAD_MARGIN after it. Call it after the watcher exited."""
        with self._lock:
            return list(self._delivered)

    # --- faults (called from other threads) -----------------------------------------
    def cut(self, reset):
        """Close every connection: with RST when `reset`, else FIN."""
        with self._lock:
            self._cuts.append(reset)

    def refuse(self, seconds):
        """Cut every link and stop listening for `seconds`: reconnects are refused."""
        with self._lock:
            self._refuse_until = time.monotonic() + seconds
            self._cuts.append(True)

    def blackhole(self, seconds):
        """Forward nothing, in either direction, for `seconds`; then deliver what was held."""
        with self._lock:
            self._hold_until = max(self._hold_until, time.monotonic() + seconds)

    def delay_replies(self, delay, seconds):
        """Hold every server-to-client chunk for `delay` seconds, for the next `seconds`."""
        with self._lock:
            self._delay = delay
            self._delay_until = time.monotonic() + seconds

    # --- lifecycle ---------------------------------------------------------------------
    def start(self):
        self._listen()
        self._thread.start()
        return self

    def stop(self):
        self._stop = True
        self._thread.join(timeout=5)

    def _listen(self):
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(128)
        listener.setblocking(False)
        self._listener = listener
        self._selector.register(listener, selectors.EVENT_READ, None)

    def _unlisten(self):
        self._selector.unregister(self._listener)
        self._listener.close()
        self._listener = None

    # --- the loop ----------------------------------------------------------------------
    def _run(self):
        try:
            self._loop()
        except Exception as error:  # the soak reports it as a harness failure
            self.error = "%s: %s" % (type(error).__name__, error)

    def _loop(self):
        while not self._stop:
            now = time.monotonic()
            with self._lock:
                refusing = now < self._refuse_until
                cuts, self._cuts = list(self._cuts), collections.deque()
            for reset in cuts:
                pairs, self._pairs = self._pairs, []
                for pair in pairs:
                    self._close_pair(pair, reset=reset)
            if refusing and self._listener is not None:
                self._unlisten()
            elif not refusing and self._listener is None:
                self._listen()
            self._watch_reads()
            for key, _ in self._selector.select(timeout=0.005):
                if key.data is None:
                    self._accept()
                else:
                    self._read(key.data, key.fileobj)
            self._flush(time.monotonic())
        for pair in self._pairs:
            self._close_pair(pair, reset=False)
        if self._listener is not None:
            self._listener.close()

    def _watch_reads(self):
        """Read a socket only while the queue it feeds has room (back-pressure)."""
        for pair in self._pairs:
            for sock, other in ((pair.down, pair.up), (pair.up, pair.down)):
                want = pair.eof_from is None and pair.queued[id(other)] < QUEUE_LIMIT
                registered = self._registered(sock)
                if want and not registered:
                    self._selector.register(sock, selectors.EVENT_READ, pair)
                elif not want and registered:
                    self._selector.unregister(sock)

    def _registered(self, sock):
        try:
            self._selector.get_key(sock)
            return True
        except (KeyError, ValueError):
            return False

    def _accept(self):
        try:
            down, _ = self._listener.accept()
        except (BlockingIOError, OSError):
            return
        try:
            up = socket.create_connection(("127.0.0.1", self.upstream_port), timeout=1.0)
        except OSError:
            _close(down, reset=True)  # Redis is down: the client sees its connection reset
            return
        for sock in (down, up):
            sock.setblocking(False)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._pairs.append(_Pair(down, up))
        self.accepted += 1

    def _read(self, pair, sock):
        try:
            data = sock.recv(READ_SIZE)
        except BlockingIOError:
            return
        except OSError:
            data = None  # a reset
        now = time.monotonic()
        if not data:
            if sock is pair.up:
                self.server_closed += 1
            else:
                pair.client_closed = (now, data is not None)
            pair.eof_from = sock
            for s in (pair.down, pair.up):
                if self._registered(s):
                    self._selector.unregister(s)
            return
        with self._lock:
            delay = self._delay if (sock is pair.up and now < self._delay_until) else 0.0
        if sock is pair.down and b"PSUBSCRIBE" in data.upper():
            pair.pattern = True
        other = pair.down if sock is pair.up else pair.up
        pair.queue_for(other).append((now + delay, data))
        pair.queued[id(other)] += len(data)

    def _flush(self, now):
        with self._lock:
            held = now < self._hold_until
        for pair in list(self._pairs):
            broken = False
            if not held:
                for sock in (pair.down, pair.up):
                    if not self._send_due(pair, sock, now):
                        broken = True
            if broken or (pair.eof_from is not None and self._drained(pair)):
                self._pairs.remove(pair)
                self._close_pair(pair, reset=broken)

    def _drained(self, pair):
        """After one side closed: true once everything it sent reached the other side."""
        other = pair.down if pair.eof_from is pair.up else pair.up
        return pair.queued[id(other)] == 0

    def _send_due(self, pair, sock, now):
        """Write the queued chunks whose time has come; False if the socket is broken."""
        queue = pair.queue_for(sock)
        while queue and queue[0][0] <= now:
            release, data = queue[0]
            try:
                sent = sock.send(data)
            except BlockingIOError:
                return True
            except OSError as error:
                if error.errno in (errno.EAGAIN, errno.EWOULDBLOCK):
                    return True
                return False
            pair.queued[id(sock)] -= sent
            if sock is pair.down:
                pair.delivered_bytes += sent
                for channel, payload, end in pair.replies.feed(data[:sent]):
                    pair.pmessages.append((now, channel, payload, end))
            if sent < len(data):
                queue[0] = (release, data[sent:])
                return True
            queue.popleft()
        return True

    @staticmethod
    def _acknowledged(sock):
        """Bytes of ours the client's kernel acknowledged (they reached its open
        socket); still known after a reset."""
        info = sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 256)
        return struct.unpack_from("Q", info, TCP_INFO_BYTES_ACKED)[0]

    def _receive_queue(self, sock):
        """Bytes waiting in the client's receive queue (rx_queue in /proc/net/tcp)."""
        try:
            client_port = sock.getpeername()[1]
        except OSError:
            return 0  # the client is gone: its reset is handled by the caller
        with open("/proc/net/tcp") as table:
            for row in table.readlines()[1:]:
                fields = row.split()
                local, remote, queues = fields[1], fields[2], fields[4]
                if int(local.split(":")[1], 16) == client_port and int(remote.split(":")[1], 16) == self.port:
                    return int(queues.split(":")[1], 16)
        return 0

    def _close_pair(self, pair, reset):
        if pair.pattern:
            now = time.monotonic()
            read_up_to = min(pair.delivered_bytes, self._acknowledged(pair.down))
            if reset:
                read_up_to -= self._receive_queue(pair.down)
            closed_at, clean = pair.client_closed or (now, True)
            gave_up = pair.eof_from is pair.down and not clean
            since = closed_at - UNREAD_MARGIN
            with self._lock:
                self._delivered += [(at, channel, payload, end > read_up_to or (gave_up and at >= since))
                                    for at, channel, payload, end in pair.pmessages]
        for sock in (pair.down, pair.up):
            if self._registered(sock):
                try:
                    self._selector.unregister(sock)
                except (KeyError, ValueError):
                    pass
        _close(pair.down, reset=reset)
        _close(pair.up, reset=False)


def _close(sock, reset):
    try:
        if reset:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        sock.close()
    except OSError:
        pass
