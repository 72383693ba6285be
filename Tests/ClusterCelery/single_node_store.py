"""Runs clusterapp.add(X, 1) with id TASK_ID through Celery's tracer in this
process (task_always_eager, results stored: task_store_eager_result) with
the results on one plain Redis, so ClusterCeleryTests can compare the bytes
Celery's own RedisBackend stores with those the cluster backend stored for
the same task.

    CLUSTER_RESULT_BACKEND=redis://host:port/db single_node_store.py TASK_ID X

For a plain redis:// URL the package's factory returns Celery's RedisBackend.
"""

import sys

import clusterapp


def main(task_id, x):
    clusterapp.app.conf.update(task_always_eager=True, task_store_eager_result=True)
    clusterapp.add.apply(args=(int(x), 1), task_id=task_id)
    print(type(clusterapp.app.backend).__module__, type(clusterapp.app.backend).__name__)


if __name__ == "__main__":
    main(*sys.argv[1:])
