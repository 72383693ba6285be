"""Sends clusterapp.add(i, 1) once per task id read from standard input (one
a line), with that id, then prints how many it sent.

The sender has no result backend: Celery's sending side would otherwise
subscribe to every task's channel (on_task_call), which a watcher is for.
"""

import sys

from celery import Celery

import clusterapp


def main():
    sender = Celery("clusterapp", broker=clusterapp.BROKER_URL)
    sender.conf.task_serializer = "json"
    count = 0
    with sender.producer_or_acquire() as producer:
        for line in sys.stdin:
            task_id = line.strip()
            if task_id:
                sender.send_task("clusterapp.add", args=(count, 1), task_id=task_id, producer=producer)
                count += 1
    print(count)


if __name__ == "__main__":
    main()
