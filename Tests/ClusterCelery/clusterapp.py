"""A Celery app whose results go to a Redis Cluster through the
`celery-redis-cluster` backend (PyPI, 0.2.3), for taskwatch's cluster tests.

    CLUSTER_BROKER_URL     the broker: one plain Redis (redis://...)
    CLUSTER_RESULT_BACKEND redis+cluster://[:password@]host:port (one seed node;
                           redis-py discovers the rest of the cluster)

Two things stand between that package as released and a working worker with
the versions pinned in scripts/requirements-cluster.txt (released_probe.py
shows both, and ClusterCeleryTests checks they still hold):

1. Its setup.py registers the `redis`/`rediss` backends in the entry-point
   group `celery.backends`; Celery (5.3 to 5.7) reads `celery.result_backends`,
   so `redis+cluster://` silently becomes Celery's plain RedisBackend.
   Here the app's loader maps the alias instead (`override_backends`), which
   is what the package's own tests do with BACKEND_ALIASES: Celery then calls
   the package's `choose_redis_backend`, as the entry point intends.
2. Celery's RedisBackend._set sends SETEX and PUBLISH in one pipeline, and
   redis-py's cluster pipeline refuses PUBLISH in every release with cluster
   support (4.1 to 8.1: "Calling pipelined function publish is blocked when
   running redis in cluster mode"), so every store fails. The one method
   replaced below sends the same two commands unpipelined: SETEX on the key's
   master, then PUBLISH on a node of redis-py's choice (a cluster broadcasts
   it to every node). Keys, channel and bytes are the package's.
"""

import os

from celery import Celery
from celery_redis_cluster_backend.backend import RedisClusterBackend

BROKER_URL = os.environ["CLUSTER_BROKER_URL"]
RESULT_BACKEND = os.environ["CLUSTER_RESULT_BACKEND"]

app = Celery("clusterapp", broker=BROKER_URL)
# What the package's entry point would do if Celery read its group (point 1).
app.loader.override_backends = {
    "redis": "celery_redis_cluster_backend.backend:choose_redis_backend",
    "rediss": "celery_redis_cluster_backend.backend:choose_rediss_backend",
}
app.conf.update(
    result_backend=RESULT_BACKEND,
    task_serializer="json",
    result_serializer="json",
    accept_content=["json"],
    result_expires=3600,
    # STARTED is stored (and published) only when tracking is on.
    task_track_started=True,
    # A failover leaves a killed master's slots unserved for a few seconds.
    # Celery retries only the SETEX/PUBLISH by itself; the GET that
    # store_result sends first (not to overwrite a ready state) fails at once,
    # and the solo worker then drops the task it was running (its message was
    # acked on receipt). With this on, the whole store is retried.
    result_backend_always_retry=True,
    result_backend_max_sleep_between_retries_ms=1000,
    broker_connection_retry_on_startup=True,
    worker_hijack_root_logger=False,
    worker_send_task_events=False,
)


def _set_unpipelined(self, key, value, expires=None):
    """RedisBackend._set without the pipeline redis-py's cluster client
    refuses (point 2): the same SETEX (or SET) and PUBLISH, one after the
    other."""
    if expires is None:
        expires = self.expires
    if expires:
        self.client.setex(key, expires, value)
    else:
        self.client.set(key, value)
    self.client.publish(key, value)


RedisClusterBackend._set = _set_unpipelined


@app.task
def add(x, y):
    return x + y
