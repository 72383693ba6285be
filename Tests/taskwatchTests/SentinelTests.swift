import Foundation
import TaskWatch
import TestSupport
import Testing

/// Redis Sentinel with real processes: a master, a replica and three
/// `redis-sentinel`s on free loopback ports, all started and stopped here.
@Suite("Sentinel", .serialized)
struct SentinelTests {

  @Test("SENTINEL FAILOVER mid-watch; SUCCESS stored on the promoted replica → reported within 20 s, exit 0")
  func failover() throws {
    let cluster = try SentinelCluster()
    let id = newTaskID()
    try cluster.master.run(["SET", "celery-task-meta-\(id)", celeryMeta(id, "STARTED")])
    let process = try TaskwatchProcess(["-u", cluster.url(), "--master-name", cluster.masterName, id])
    #expect(try cluster.master.waitForSubscribers(channel: "celery-task-meta-\(id)"))
    #expect(process.waitForLines(1, seconds: 10), "the snapshot comes from the first master")
    let started = Date()
    try cluster.failOver()
    try cluster.replica.storeAndPublish(taskID: id, json: celeryMeta(id, "SUCCESS"))
    let result = try process.finish(seconds: 20)
    #expect(Date().timeIntervalSince(started) < 20)
    #expect(result.status == 0)
    #expect(result.states(of: id) == ["STARTED", "SUCCESS"])
    #expect(result.stderr.contains("reconnected to master 'mymaster' via sentinels"))
  }

  @Test("over TLS: sentinels, master and the promoted replica all reached over TLS; the failover is followed")
  func failoverOverTLS() throws {
    let cluster = try SentinelCluster(tls: true)
    let id = newTaskID()
    try cluster.master.run(["SET", "celery-task-meta-\(id)", celeryMeta(id, "STARTED")])
    let process = try TaskwatchProcess(["-u", cluster.url(), "--master-name", cluster.masterName, id])
    #expect(try cluster.master.waitForSubscribers(channel: "celery-task-meta-\(id)"))
    #expect(process.waitForLines(1, seconds: 10), "the snapshot comes from the first master, over TLS")
    try cluster.failOver()
    try cluster.replica.storeAndPublish(taskID: id, json: celeryMeta(id, "SUCCESS"))
    let result = try process.finish(seconds: 20)
    #expect(result.status == 0, "\(result.stderr)")
    #expect(result.states(of: id) == ["STARTED", "SUCCESS"])
    #expect(result.stderr.contains("reconnected to master 'mymaster' via sentinels"))
  }

  @Test("a sentinel that is down is skipped; master_name from the URL; --group reads through the sentinels too")
  func sentinelDown() throws {
    let cluster = try SentinelCluster()
    let (id, group, child) = (newTaskID(), newTaskID(), newTaskID())
    try cluster.master.storeAndPublish(taskID: id, json: celeryMeta(id, "SUCCESS"))
    try cluster.master.storeAndPublish(taskID: child, json: celeryMeta(child, "SUCCESS"))
    try cluster.master.storeAndPublish(
      taskID: group, payload: Array(#"{"result": [["\#(group)", null], [[["\#(child)", null], null]]]}"#.utf8),
      keyPrefix: "celery-taskset-meta-")
    let url = "sentinel://127.0.0.1:\(try FreePort.pick());" + cluster.url() + "?master_name=mymaster"
    let result = try TaskwatchProcess.run(["-u", url, id, "--group", group], seconds: 15)
    #expect(result.status == 0)
    #expect(result.states(of: id) == ["SUCCESS"])
    #expect(result.states(of: child) == ["SUCCESS"])
  }

  @Test("an unknown master name exits 64 at once, naming it")
  func unknownMaster() throws {
    let cluster = try SentinelCluster()
    let started = Date()
    let result = try TaskwatchProcess.run(
      ["-u", cluster.url(), "--retry-for", "20s", newTaskID()], environment: ["TASKWATCH_MASTER_NAME": "nosuch"],
      seconds: 10)
    #expect(Date().timeIntervalSince(started) < 5)
    #expect(result.status == 64)
    #expect(result.stderr.contains("taskwatch: no sentinel monitors a master named 'nosuch'"))
    #expect(result.stdout.isEmpty)
  }

  @Test("every sentinel down → retried for --retry-for, then exit 69 saying so")
  func allSentinelsDown() throws {
    let cluster = try SentinelCluster()
    cluster.stopSentinels()
    let started = Date()
    let result = try TaskwatchProcess.run(
      ["-u", cluster.url(), "--master-name", cluster.masterName, "--retry-for", "2s", newTaskID()], seconds: 10)
    let elapsed = Date().timeIntervalSince(started)
    #expect(elapsed >= 2 && elapsed < 6)
    #expect(result.status == 69)
    #expect(result.stderr.contains("no sentinel answered"))
    #expect(result.stderr.contains("gave up after 2"))
  }
}
