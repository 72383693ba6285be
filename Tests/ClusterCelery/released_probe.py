"""Prints, as one JSON object, what celery-redis-cluster does as released
with the Celery and redis-py installed: the entry-point groups it registers,
the backend class Celery picks for a redis+cluster:// URL by itself and
when the package's factory is mapped by hand (override_backends), and the
error its store_result ends with, if any.

    released_probe.py redis+cluster://[:password@]host:port TASK_ID

clusterapp.py's docstring explains the two findings; ClusterCeleryTests
checks that they still hold for the pinned versions.
"""

import json
import sys
from importlib.metadata import distribution, version

from celery import Celery


def qualified_name(cls):
    return "%s.%s" % (cls.__module__, cls.__qualname__)


def main(url, task_id):
    report = {
        "versions": {
            name: version(name)
            for name in ("celery", "kombu", "redis", "celery-redis-cluster")
        },
        "entry_point_groups": sorted(
            {point.group for point in distribution("celery-redis-cluster").entry_points}),
    }
    by_itself = Celery("probe", broker="memory://", backend=url)
    report["backend_by_itself"] = qualified_name(type(by_itself.backend))
    mapped = Celery("probe", broker="memory://")
    mapped.loader.override_backends = {
        "redis": "celery_redis_cluster_backend.backend:choose_redis_backend",
    }
    mapped.conf.result_backend = url
    backend = mapped.backend
    report["backend_mapped"] = qualified_name(type(backend))
    # Fail at the first error rather than after Celery's 20 retries (~20 s):
    # the package counts RedisClusterException as a connection error.
    backend.retry_policy["max_retries"] = 0
    try:
        backend.store_result(task_id, 3, "SUCCESS")
        report["store_error"] = None
    except Exception as error:  # the report is the point: any error is shown
        report["store_error"] = "%s: %s" % (type(error).__name__, error)
    print(json.dumps(report))


if __name__ == "__main__":
    main(*sys.argv[1:])
