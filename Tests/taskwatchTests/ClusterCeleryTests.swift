import Foundation
import TaskWatch
import TestSupport
import Testing

/// Redis Cluster with a real Celery worker: Celery 5.7 and the
/// `celery-redis-cluster` backend (``ClusterCelery``) storing results on the
/// shared three-master cluster (``RedisClusterFixture``), the broker on a
/// plain redis-server of its own, taskwatch following the tasks.
///
/// The backend is used as `Tests/ClusterCelery/clusterapp.py` explains:
/// registered through the app's loader (Celery ignores the package's entry
/// points) and with `_set` unpipelined (redis-py's cluster pipeline refuses
/// `PUBLISH`); ``releasedPackage()`` checks both findings still hold.
@Suite(
  "Redis Cluster with a real Celery worker", .serialized,
  .enabled(if: ClusterCelery.shouldRun, "no .venv-cluster: run scripts/setup (or scripts/setup-python cluster)"))
struct ClusterCeleryTests {
  @Test("celery-redis-cluster 0.2.3 as released: its entry points are ignored and its store fails on PUBLISH")
  func releasedPackage() throws {
    let cluster = try RedisClusterFixture.shared()
    let environment = ClusterCelery.environment(broker: "memory://", results: cluster.url(seeds: 1))
    let probe = try ClusterCelery.run(
      "released_probe.py", [cluster.url(seeds: 1), newTaskID()], environment: environment)
    try #require(probe.status == 0, "\(probe.stderr)")
    let report = try #require(try JSONSerialization.jsonObject(with: Data(probe.stdout.utf8)) as? [String: Any])
    #expect(
      report["versions"] as? [String: String]
        == ["celery": "5.7.0", "kombu": "5.7.0", "redis": "8.1.0", "celery-redis-cluster": "0.2.3"])
    #expect(report["entry_point_groups"] as? [String] == ["celery.backends"], "Celery reads celery.result_backends")
    #expect(report["backend_by_itself"] as? String == "celery.backends.redis.RedisBackend")
    #expect(report["backend_mapped"] as? String == "celery_redis_cluster_backend.backend.RedisClusterBackend")
    #expect(
      report["store_error"] as? String
        == "RedisClusterException: ERROR: Calling pipelined function publish is blocked when running redis in cluster mode..."
    )
  }

  @Test("a real worker's tasks over every master: PENDING, STARTED, SUCCESS each, exit 0; bytes as on one Redis")
  func workerTasks() throws {
    let cluster = try RedisClusterFixture.shared()
    let ids = (0..<ClusterCelery.taskCount).map { _ in newTaskID() }
    let map = try cluster.slotMap()
    let owners = Set(ids.compactMap { map.master(ofSlot: RedisClusterFixture.slot(ofTask: $0)) })
    #expect(owners.count == 3, "the ids reach every master")
    let run = try ClusterCeleryRun(cluster: cluster, ids: ids)
    #expect(run.result.status == 0, "\(run.result.stderr)\n\(run.workerLog.suffix(2_000))")
    #expect(run.result.stderr.isEmpty)
    let wrong = run.tasks(in: ids, notPrinting: ["PENDING", "STARTED", "SUCCESS"])
    #expect(wrong.count == 0, "\(wrong.count) tasks, e.g. \(wrong.example)")
    let summary = try #require(run.result.objects.last)
    #expect(summary["states"] as? [String: Int] == ["SUCCESS": ids.count] && summary["exit_code"] as? Int == 0)

    // The bytes the worker stored on the cluster for add(0, 1), beside those
    // Celery's own RedisBackend stores on one Redis for the same task.
    let key = "celery-task-meta-\(ids[0])"
    let onCluster = try #require(try cluster.get(key))
    let oneRedis = try RedisServer()
    defer { oneRedis.stop() }
    let single = try ClusterCelery.run(
      "single_node_store.py", [ids[0], "0"],
      environment: ClusterCelery.environment(broker: "memory://", results: oneRedis.url()))
    #expect(single.stdout == "celery.backends.redis RedisBackend\n", "\(single.stderr)")
    let onOneRedis = try #require(try oneRedis.run(["GET", key]).text)
    #expect(
      onCluster.hasPrefix(#"{"status": "SUCCESS", "result": 1, "traceback": null, "children": [], "date_done": ""#))
    #expect(withoutDate(onCluster) == withoutDate(onOneRedis), "\(onCluster)\n\(onOneRedis)")
  }

  @Test("redis-cli --cluster reshard of 2,000 slots while the worker stores: every transition reported, exit 0")
  func reshardWhileStoring() throws {
    // A cluster of its own: ClusterTests, which may run meanwhile, reshards the shared one.
    let cluster = try RedisClusterFixture(password: "s3cret")
    let ids = (0..<2_000).map { _ in newTaskID() }
    var resharded: CapturedProcess.Result?
    let run = try ClusterCeleryRun(cluster: cluster, ids: ids) {
      let masters = try cluster.masters()
      let (from, to) = (try cluster.nodeID(of: masters[0]), try cluster.nodeID(of: masters[1]))
      resharded = try CapturedProcess(
        "/usr/bin/redis-cli",
        [
          "-a", "s3cret", "--no-auth-warning", "--cluster", "reshard", "127.0.0.1:\(masters[0].port)",
          "--cluster-from", from, "--cluster-to", to, "--cluster-slots", "2000", "--cluster-yes",
          "--cluster-pipeline", "10",
        ]
      ).finish(seconds: 120)
    }
    #expect(resharded?.status == 0, "\(resharded?.stdout.suffix(2_000) ?? "") \(resharded?.stderr ?? "")")
    #expect(run.result.status == 0, "\(run.result.stderr)\n\(run.workerLog.suffix(2_000))")
    let wrong = run.tasks(in: ids, notPrinting: ["PENDING", "STARTED", "SUCCESS"])
    #expect(wrong.count == 0, "\(wrong.count) tasks, e.g. \(wrong.example)")
  }

  @Test("the subscriber's master killed while the worker stores: replica promoted, resync, nothing lost, exit 0")
  func masterKilledWhileStoring() throws {
    let cluster = try RedisClusterFixture(password: "s3cret")
    let ids = (0..<2_000).map { _ in newTaskID() }
    let run = try ClusterCeleryRun(cluster: cluster, ids: ids) {
      // The last task sent: taskwatch unsubscribes from ready tasks.
      let channel = "celery-task-meta-\(ids[ids.count - 1])"
      #expect(cluster.waitForSubscriber(channel: channel))
      let subscriberNode = try #require(cluster.nodesSubscribed(to: channel).first)
      #expect(try cluster.masters().contains { $0 === subscriberNode }, "the subscriber starts on a master")
      try cluster.kill(subscriberNode)
    }
    #expect(run.result.status == 0, "\(run.result.stderr)\n\(run.workerLog.suffix(2_000))")
    #expect(run.result.stderr.contains("reconnected to cluster via"))
    // The worker's stores to the killed master failed and were retried until
    // the replica took over: by RedisBackend.ensure ("Connection to Redis
    // lost: Retry") or, when the error gets past it, by
    // result_backend_always_retry ("Failed operation _store_result"); which
    // one depends on when the kill lands in a store.
    #expect(
      run.workerLog.contains("Failed operation _store_result. Retrying")
        || run.workerLog.contains("Connection to Redis lost: Retry"), "\(run.workerLog.suffix(2_000))")
    // A task that started and finished while the subscriber was away is
    // reported by the resync at its stored state: SUCCESS without STARTED.
    let wrong = ids.filter {
      !([["PENDING", "STARTED", "SUCCESS"], ["PENDING", "SUCCESS"]].contains(run.states[$0] ?? []))
    }
    #expect(wrong.isEmpty, "\(wrong.count) tasks, e.g. \(wrong.first.map { "\($0): \(run.states[$0] ?? [])" } ?? "")")
  }

  /// `meta` with its `date_done` value blanked: the one field that differs
  /// between two stores of the same task.
  private func withoutDate(_ meta: String) -> String {
    meta.replacing(/"date_done": "[^"]*"/, with: #""date_done": """#)
  }
}
