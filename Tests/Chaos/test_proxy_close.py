"""What the proxy reports as maybe unread when the client closes the link
itself, which decides what --all's checker admits as its blind spot: after a
clean close (FIN: the client had read its socket empty) nothing delivered
well before it, after the client's reset (it closed with bytes unread)
whatever came shortly before."""

import socket
import threading
import time

from chaos_proxy import ChaosProxy


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
    time.sleep(0.2)  # well past CLEAN_CLOSE_MARGIN
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
