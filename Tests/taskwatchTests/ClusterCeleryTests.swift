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
  .enabled(if: ClusterCelery.isInstalled, "no .venv-cluster: run scripts/setup (scripts/setup-cluster-python)"))
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
    let broker = try RedisServer()
    defer { broker.stop() }
    let count = ClusterCelery.taskCount
    let ids = (0..<count).map { _ in newTaskID() }
    let map = try cluster.slotMap()
    let owners = Set(ids.compactMap { map.master(ofSlot: RedisClusterFixture.slot(ofTask: $0)) })
    #expect(owners.count == 3, "the ids reach every master")
    let environment = ClusterCelery.environment(broker: broker.url(), results: cluster.url(seeds: 1))
    let worker = try ClusterCeleryWorker(environment: environment)
    defer { worker.stop() }
    try worker.waitUntilReady()
    let process = try TaskwatchProcess(
      ["-u", cluster.url(), "-t", "\(60 + count / 50)s", "--pending-hint-after", "off", "--summary", "-"],
      stdin: ids.joined(separator: "\n"))
    // The snapshot's PENDING lines come after the subscription is confirmed.
    // One solo worker leaves tasks queued for longer than the PENDING hint's 10 s.
    #expect(process.waitForLines(count, seconds: 60), "\(process.stderrSoFar)")
    let sent = try ClusterCelery.run(
      "send_tasks.py", [], stdin: ids.joined(separator: "\n"), environment: environment, seconds: 120)
    #expect(sent.status == 0 && sent.stdout == "\(count)\n", "\(sent.stderr)")
    let result = try process.finish(seconds: Double(90 + count / 50))
    #expect(result.status == 0, "\(result.stderr)\n\(worker.logText.suffix(2_000))")
    #expect(result.stderr.isEmpty)
    var states: [String: [String]] = [:]
    for object in result.objects where object["type"] as? String == "state" {
      if let id = object["task_id"] as? String, let state = object["state"] as? String {
        states[id, default: []].append(state)
      }
    }
    let wrong = ids.filter { states[$0] != ["PENDING", "STARTED", "SUCCESS"] }
    #expect(wrong.isEmpty, "\(wrong.count) tasks, e.g. \(wrong.first.map { "\($0): \(states[$0] ?? [])" } ?? "")")
    let summary = try #require(result.objects.last)
    #expect(summary["states"] as? [String: Int] == ["SUCCESS": count] && summary["exit_code"] as? Int == 0)

    // The bytes the worker stored on the cluster for add(0, 1), beside those
    // Celery's own RedisBackend stores on one Redis for the same task.
    let key = "celery-task-meta-\(ids[0])"
    let owner = try cluster.master(ofSlot: RedisClusterFixture.slot(ofTask: ids[0]))
    let onCluster = try #require(try cluster.run(["GET", key], on: owner).text)
    let single = try ClusterCelery.run(
      "single_node_store.py", [ids[0], "0"],
      environment: ClusterCelery.environment(broker: "memory://", results: broker.url(database: 2)))
    #expect(single.stdout == "celery.backends.redis RedisBackend\n", "\(single.stderr)")
    let onOneRedis = try #require(try broker.run(["GET", key], database: 2).text)
    #expect(
      onCluster.hasPrefix(#"{"status": "SUCCESS", "result": 1, "traceback": null, "children": [], "date_done": ""#))
    #expect(withoutDate(onCluster) == withoutDate(onOneRedis), "\(onCluster)\n\(onOneRedis)")
  }

  /// `meta` with its `date_done` value blanked: the one field that differs
  /// between two stores of the same task.
  private func withoutDate(_ meta: String) -> String {
    meta.replacing(/"date_done": "[^"]*"/, with: #""date_done": """#)
  }
}
