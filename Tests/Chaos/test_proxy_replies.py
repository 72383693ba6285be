"""The proxy's RESP splitter, which decides what counts as delivered to
--all: every pmessage is found however the stream is cut, nothing else is."""

import random

from chaos_proxy import _Replies

STREAM = (b"+OK\r\n*3\r\n$10\r\npsubscribe\r\n$18\r\ncelery-task-meta-*\r\n:1\r\n"
          b"*4\r\n$8\r\npmessage\r\n$18\r\ncelery-task-meta-*\r\n$19\r\ncelery-task-meta-a1\r\n$7\r\n{\"x\":1}\r\n"
          b"$-1\r\n-ERR no\r\n*2\r\n$3\r\nfoo\r\n$0\r\n\r\n"
          b"*4\r\n$8\r\npmessage\r\n$18\r\ncelery-task-meta-*\r\n$19\r\ncelery-task-meta-b2\r\n$8\r\nline\r\n2!\r\n")
EXPECTED = [("celery-task-meta-a1", '{"x":1}', STREAM.index(b"$-1")), ("celery-task-meta-b2", "line\r\n2!", len(STREAM))]


def test_pmessages_whole_and_cut_at_every_point():
    assert _Replies().feed(STREAM) == EXPECTED
    for cut in range(1, len(STREAM)):
        replies = _Replies()
        assert replies.feed(STREAM[:cut]) + replies.feed(STREAM[cut:]) == EXPECTED, cut


def test_pmessages_fed_a_byte_or_a_few_at_a_time():
    rng = random.Random(3)
    replies, found, position = _Replies(), [], 0
    while position < len(STREAM):
        step = rng.randrange(1, 6)
        found += replies.feed(STREAM[position:position + step])
        position += step
    assert found == EXPECTED
