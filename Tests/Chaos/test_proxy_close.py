"""What the proxy reports as maybe unread when the client closes the link
itself, which decides what --all's checker admits as its blind spot: after a
clean close (FIN: the client had read its socket empty) nothing it had
received, after the client's reset (it closed with bytes unread) whatever
came shortly before, and in every case what was written after the client
had closed."""

import socket
import tempfile
import threading
import time

from celery_publisher import PREFIX, RESPConnection
from chaos_proxy import ChaosProxy
from soak import RedisProcess, harness


def pmessage(task):
    channel = b"celery-task-meta-" + task
    return (b"*4\r\n$8\r\npmessage\r\n$18\r\ncelery-task-meta-*\r\n$%d\r\n%s\r\n$7\r\n{\"x\":1}\r\n"
            % (len(channel), channel))


MESSAGES = pmessage(b"a1") + pmessage(b"b2")


def serve_once(listener):
    """The upstream: waits for the PSUBSCRIBE, answers with two pmessages, then
    holds the connection until the proxy closes it."""
    upstream, _ = listener.accept()
    with upstream:
        upstream.recv(1024)
        upstream.sendall(MESSAGES)
        while upstream.recv(1024):
            pass


def deliveries_after(close):
    """Runs one client through a proxy and returns the proxy's deliveries once
    `close(client)` ended the link."""
    listener = socket.create_server(("127.0.0.1", 0))
    server = threading.Thread(target=serve_once, args=(listener,), daemon=True)
    server.start()
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    proxy = ChaosProxy(listener.getsockname()[1], port).start()
    try:
        client = socket.create_connection(("127.0.0.1", proxy.port))
        client.sendall(b"PSUBSCRIBE celery-task-meta-*\r\n")
        close(client)
        deadline = time.monotonic() + 5
        while proxy.pattern_links() and time.monotonic() < deadline:
            time.sleep(0.01)
        return proxy.pattern_deliveries()
    finally:
        proxy.stop()
        listener.close()


def read_all_then_close(client):
    received = b""
    while len(received) < len(MESSAGES):
        received += client.recv(4096)
    time.sleep(0.2)
    client.close()


def close_unread(client):
    time.sleep(0.2)  # the messages wait in the client's receive queue
    client.close()  # with bytes unread: Linux sends a reset


def test_a_clean_close_proves_every_earlier_message_read():
    deliveries = deliveries_after(read_all_then_close)
    assert [(channel, unread) for _, channel, _, unread in deliveries] == [
        ("celery-task-meta-a1", False), ("celery-task-meta-b2", False)]


def test_a_close_with_bytes_unread_leaves_them_maybe_unread():
    deliveries = deliveries_after(close_unread)
    assert [(channel, unread) for _, channel, _, unread in deliveries] == [
        ("celery-task-meta-a1", True), ("celery-task-meta-b2", True)]


def test_a_message_written_after_the_watcher_closed_is_unread():
    """The seed-5 "lost task", with a real redis-server: a message waits in
    the proxy's reply delay when Redis closes the subscriber's upstream (a
    restart does); the watcher then gives the link up itself (its command
    connection died), cleanly, having read everything that had reached it.
    The proxy no longer reads a client whose server side closed, so it does
    not see that close, and drains the delayed message into the closed
    socket: the write succeeds, the client's kernel answers with a reset.
    Counted as read, it made a task never printed by --all a loss."""
    with tempfile.TemporaryDirectory(prefix="taskwatch-chaos-test-") as directory:
        redis = RedisProcess(directory).start()
        proxy = ChaosProxy(redis.port, harness.free_loopback_port()).start()
        try:
            client = socket.create_connection(("127.0.0.1", proxy.port))
            client.sendall(RESPConnection.pack("PSUBSCRIBE", PREFIX + "*"))
            confirmation = client.recv(4096)
            assert b"psubscribe" in confirmation
            proxy.delay_replies(0.5, 10)
            assert redis.command("PUBLISH", PREFIX + "a1", '{"status": "STARTED"}') == 1
            redis.command("CLIENT", "KILL", "TYPE", "pubsub")
            time.sleep(0.1)  # the proxy has read Redis's close; the message is still delayed
            client.close()
            deadline = time.monotonic() + 5
            while proxy.pattern_links() and time.monotonic() < deadline:
                time.sleep(0.01)
            assert [(channel, unread) for _, channel, _, unread in proxy.pattern_deliveries()] == [
                (PREFIX + "a1", True)]
        finally:
            proxy.stop()
            redis.stop()
