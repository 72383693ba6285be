import Foundation
import TaskWatch
import TestSupport
import Testing

/// Redis Cluster end to end: the built binary against real clusters of three
/// masters with one replica each (``RedisClusterFixture``), all on loopback,
/// started and stopped by PID. Tests that kill no node share one cluster
/// (password `s3cret`); a test that kills a node starts its own.
@Suite("Redis Cluster", .serialized)
struct ClusterTests {
  /// Every task's states in order, from one pass over the output
  /// (``CapturedProcess/Result/states(of:)`` parses every line per call).
  private func states(_ result: CapturedProcess.Result) -> [String: [String]] {
    var states: [String: [String]] = [:]
    for object in result.objects where object["type"] as? String == "state" {
      if let id = object["task_id"] as? String, let state = object["state"] as? String {
        states[id, default: []].append(state)
      }
    }
    return states
  }

  @Test("the slot of every task key matches the cluster's own CLUSTER KEYSLOT")
  func slotsAgreeWithServer() throws {
    let cluster = try RedisClusterFixture.shared()
    let ids = (0..<200).map { _ in newTaskID() } + ["{tag}x", "a{b}c", "{}q"]
    let connection = try cluster.nodes[0].connection(password: cluster.password)
    for id in ids {
      let key = "celery-task-meta-\(id)"
      let reply = try connection.command(["CLUSTER", "KEYSLOT", key], until: .after(seconds: 5))
      #expect(reply == .integer(Int64(ClusterSlot.of(Array(key.utf8)))), "\(key)")
    }
  }

  @Test("10,000 tasks over every master's slots: snapshot, then messages confirmed on the owning node; exit 0")
  func manyTasks() throws {
    let cluster = try RedisClusterFixture.shared()
    let ids = (0..<10_000).map { _ in newTaskID() }
    let map = try cluster.slotMap()
    let owners = Set(ids.compactMap { map.master(ofSlot: RedisClusterFixture.slot(ofTask: $0)) })
    #expect(owners.count == 3, "the ids reach every master")
    let (done, running) = (Array(ids[..<5_000]), Array(ids[5_000...]))
    try cluster.storeAndPublish(done.map { ($0, celeryMeta($0, "SUCCESS", result: "1")) })
    try cluster.storeAndPublish(running.map { ($0, celeryMeta($0, "STARTED")) })
    let process = try TaskwatchProcess(
      ["-u", cluster.url(), "-t", "60s", "--summary", "-"], stdin: ids.joined(separator: "\n"))
    #expect(process.waitForLines(10_000, seconds: 30), "\(process.stderrSoFar)")
    try cluster.storeAndPublish(running.map { ($0, celeryMeta($0, "SUCCESS", result: "2")) })
    let result = try process.finish(seconds: 60)
    #expect(result.status == 0, "\(result.stderr)")
    #expect(result.stderr.isEmpty)
    let seen = states(result)
    #expect(done.allSatisfy { seen[$0] == ["SUCCESS"] })
    #expect(running.allSatisfy { seen[$0] == ["STARTED", "SUCCESS"] })
    let sources = result.objects.filter { $0["type"] as? String == "state" }.compactMap { $0["source"] as? String }
    #expect(sources.filter { $0 == "message" }.count == 5_000)
  }

  @Test("a slot half migrated (ASK), then moved (MOVED) while watching: every state read from the right node")
  func askThenMoved() throws {
    let cluster = try RedisClusterFixture.shared()
    let slot = Int.random(in: 0..<16_384)
    let (moved, absent) = (RedisClusterFixture.taskID(inSlot: slot), RedisClusterFixture.taskID(inSlot: slot))
    try cluster.storeAndPublish(taskID: moved, json: celeryMeta(moved, "STARTED"))
    let source = try cluster.master(ofSlot: slot)
    let target = try #require(try cluster.masters().first { $0 !== source })
    // The key is on the target only; the source still owns the slot and answers ASK.
    try cluster.beginMigration(slot: slot, to: target, keys: ["celery-task-meta-\(moved)"])
    let process = try TaskwatchProcess(["-u", cluster.url(), "-t", "30s", moved, absent])
    #expect(process.waitForLines(2, seconds: 15), "\(process.stderrSoFar)")
    #expect(process.stdoutSoFar.contains(#""task_id":"\#(moved)","state":"STARTED""#), "read through ASK")
    // Stored on the target through ASK; its confirmation is read through ASK too.
    try cluster.storeAndPublish(taskID: moved, json: celeryMeta(moved, "SUCCESS"))
    #expect(process.waitForLines(3, seconds: 15))
    try cluster.finishMigration(slot: slot, to: target)
    // taskwatch's map still names the source: MOVED, then the target.
    try cluster.storeAndPublish(taskID: absent, json: celeryMeta(absent, "SUCCESS"))
    let result = try process.finish(seconds: 20)
    #expect(result.status == 0, "\(result.stderr)")
    #expect(result.states(of: moved) == ["STARTED", "SUCCESS"])
    #expect(result.states(of: absent) == ["PENDING", "SUCCESS"])
    #expect(result.stderr.isEmpty, "no READY message went unconfirmed")
  }

  @Test("redis-cli --cluster reshard moves 2,000 slots while results arrive: nothing lost, exit 0")
  func reshardWhileWatching() throws {
    let cluster = try RedisClusterFixture.shared()
    let ids = (0..<600).map { _ in newTaskID() }
    try cluster.storeAndPublish(ids.map { ($0, celeryMeta($0, "STARTED")) })
    let process = try TaskwatchProcess(["-u", cluster.url(), "-t", "90s", "-"], stdin: ids.joined(separator: "\n"))
    #expect(process.waitForLines(600, seconds: 30), "\(process.stderrSoFar)")
    let masters = try cluster.masters()
    let (from, to) = (masters[0], masters[1])
    let ids0 = try #require(try cluster.run(["CLUSTER", "MYID"], on: from).text)
    let ids1 = try #require(try cluster.run(["CLUSTER", "MYID"], on: to).text)
    let reshard = try CapturedProcess(
      "/usr/bin/redis-cli",
      [
        "-a", "s3cret", "--no-auth-warning", "--cluster", "reshard", "127.0.0.1:\(from.port)", "--cluster-from", ids0,
        "--cluster-to", ids1, "--cluster-slots", "2000", "--cluster-yes", "--cluster-pipeline", "10",
      ])
    for id in ids {
      try cluster.storeAndPublish(taskID: id, json: celeryMeta(id, "SUCCESS", result: "7"))
    }
    let resharded = try reshard.finish(seconds: 120)
    #expect(resharded.status == 0, "\(resharded.stderr)")
    let result = try process.finish(seconds: 90)
    #expect(result.status == 0, "\(result.stderr)")
    let seen = states(result)
    #expect(ids.allSatisfy { seen[$0] == ["STARTED", "SUCCESS"] })
  }

  @Test("--group reads the taskset key from its owner; --children follows children on other masters")
  func groupAndChildren() throws {
    let cluster = try RedisClusterFixture.shared()
    let (group, member, root, child) = (newTaskID(), newTaskID(), newTaskID(), newTaskID())
    try cluster.set(
      "celery-taskset-meta-\(group)", #"{"result": [["\#(group)", null], [[["\#(member)", null], null]]]}"#)
    try cluster.storeAndPublish(taskID: member, json: celeryMeta(member, "SUCCESS"))
    try cluster.storeAndPublish(taskID: root, json: celeryMeta(root, "SUCCESS", children: [child]))
    try cluster.storeAndPublish(taskID: child, json: celeryMeta(child, "STARTED"))
    let process = try TaskwatchProcess(["-u", cluster.url(), "-t", "20s", "--group", group, "--children", root])
    #expect(process.waitForLines(3, seconds: 15), "\(process.stderrSoFar)")
    try cluster.storeAndPublish(taskID: child, json: celeryMeta(child, "SUCCESS"))
    let result = try process.finish(seconds: 20)
    #expect(result.status == 0, "\(result.stderr)")
    #expect(result.states(of: member) == ["SUCCESS"])
    #expect(result.states(of: child) == ["STARTED", "SUCCESS"])
  }

  @Test("--all: the pattern subscription on one node sees results published on every master")
  func allTasks() throws {
    let cluster = try RedisClusterFixture.shared()
    let prefix = "t\(UUID().uuidString.prefix(8).lowercased())-meta-"
    let process = try TaskwatchProcess(["-u", cluster.url(), "--key-prefix", prefix, "--all", "--count", "30"])
    let deadline = Deadline.after(seconds: 10)
    while !process.stdoutSoFar.contains("probe") && !deadline.hasPassed {
      try cluster.run(["PUBLISH", prefix + "probe", celeryMeta("probe", "STARTED")], on: cluster.nodes[3])
      usleep(20_000)
    }
    let ids = (0..<30).map { _ in newTaskID() }
    for (position, id) in ids.enumerated() {
      try cluster.set(prefix + id, celeryMeta(id, "SUCCESS"))
      try cluster.run(["PUBLISH", prefix + id, celeryMeta(id, "SUCCESS")], on: cluster.nodes[position % 6])
    }
    let result = try process.finish(seconds: 20)
    #expect(result.status == 0, "\(result.stderr)")
    #expect(ids.allSatisfy { result.states(of: $0) == ["SUCCESS"] })
  }

  @Test("an ACL user limited to the result channels: the fence falls back to a PING, results still reported")
  func leastPrivilegeUser() throws {
    let cluster = try RedisClusterFixture.shared()
    // Refused the marker channel (`taskwatch-fence:*`): SUBSCRIBE to it gets NOPERM.
    for node in cluster.nodes {
      try cluster.run(
        [
          "ACL", "SETUSER", "clusterwatcher", "reset", "on", ">pw", "~celery-task-meta-*", "&celery-task-meta-*",
          "+@pubsub", "+get", "+mget", "+ping", "+cluster|shards", "+cluster|slots",
        ], on: node)
    }
    let id = newTaskID()
    try cluster.storeAndPublish(taskID: id, json: celeryMeta(id, "STARTED"))
    let url =
      "redis+cluster://clusterwatcher:pw@"
      + cluster.nodes.prefix(2).map { "127.0.0.1:\($0.port)" }
      .joined(separator: ",")
    let process = try TaskwatchProcess(["-u", url, "-t", "20s", id])
    #expect(process.waitForLines(1, seconds: 15), "\(process.stderrSoFar)")
    #expect(cluster.waitForSubscriber(channel: "celery-task-meta-\(id)"))
    try cluster.storeAndPublish(taskID: id, json: celeryMeta(id, "SUCCESS"))
    let result = try process.finish(seconds: 20)
    #expect(result.status == 0, "\(result.stderr)")
    #expect(result.states(of: id) == ["STARTED", "SUCCESS"])
    #expect(result.stderr.isEmpty, "\(result.stderr)")
  }

  @Test("a wrong password exits 77 at once")
  func wrongPassword() throws {
    let cluster = try RedisClusterFixture.shared()
    let result = try TaskwatchProcess.run(
      ["-u", cluster.url(password: "wrong"), "--retry-for", "20s", newTaskID()], seconds: 10)
    #expect(result.status == 77)
    #expect(result.stderr.contains("authentication to 127.0.0.1:"))
  }

  @Test("a server not in cluster mode behind redis+cluster:// exits 69 at once, naming its refusal")
  func notACluster() throws {
    let server = SharedRedis.server
    let started = Date()
    let result = try TaskwatchProcess.run(
      ["-u", "redis+cluster://127.0.0.1:\(server.port)", "--retry-for", "20s", newTaskID()], seconds: 10)
    #expect(Date().timeIntervalSince(started) < 5)
    #expect(result.status == 69)
    #expect(result.stderr.contains("refused CLUSTER SHARDS: ERR This instance has cluster support disabled"))
  }

  @Test("every seed node down → retried for --retry-for, then exit 69")
  func seedsDown() throws {
    let url = "redis+cluster://127.0.0.1:\(try FreePort.pick()),127.0.0.1:\(try FreePort.pick())"
    let started = Date()
    let result = try TaskwatchProcess.run(["-u", url, "--retry-for", "2s", newTaskID()], seconds: 10)
    let elapsed = Date().timeIntervalSince(started)
    #expect(elapsed >= 2 && elapsed < 6)
    #expect(result.status == 69)
    #expect(result.stderr.contains("cluster via 127.0.0.1:"))
  }

  @Test("the subscriber's master killed: its replica takes over, taskwatch resubscribes elsewhere and resyncs")
  func subscriberMasterKilled() throws {
    let cluster = try RedisClusterFixture()
    let ids = (0..<300).map { _ in newTaskID() }
    try cluster.storeAndPublish(ids.map { ($0, celeryMeta($0, "STARTED")) })
    let process = try TaskwatchProcess(
      ["-u", cluster.url(seeds: 3), "-t", "60s", "--retry-for", "40s", "-"], stdin: ids.joined(separator: "\n"))
    #expect(process.waitForLines(300, seconds: 20), "\(process.stderrSoFar)")
    let channel = "celery-task-meta-\(ids[0])"
    #expect(cluster.waitForSubscriber(channel: channel))
    let subscriberNode = try #require(cluster.nodesSubscribed(to: channel).first)
    #expect(try cluster.masters().contains { $0 === subscriberNode }, "the subscriber starts on a master")
    try cluster.kill(subscriberNode)
    // Stored while the link is down or resubscribing: the resync reports them.
    try cluster.storeAndPublish(ids.map { ($0, celeryMeta($0, "SUCCESS")) })
    let result = try process.finish(seconds: 60)
    #expect(result.status == 0, "\(result.stderr)")
    let seen = states(result)
    #expect(ids.allSatisfy { seen[$0] == ["STARTED", "SUCCESS"] })
    #expect(result.stderr.contains("reconnected to cluster via"))
  }

  @Test("a master that is not the subscriber's killed: the next fetch follows the promoted replica")
  func commandMasterKilled() throws {
    let cluster = try RedisClusterFixture()
    let ids = (0..<300).map { _ in newTaskID() }
    try cluster.storeAndPublish(ids.map { ($0, celeryMeta($0, "STARTED")) })
    let process = try TaskwatchProcess(
      ["-u", cluster.url(seeds: 3), "-t", "60s", "--retry-for", "40s", "-"], stdin: ids.joined(separator: "\n"))
    #expect(process.waitForLines(300, seconds: 20), "\(process.stderrSoFar)")
    let channel = "celery-task-meta-\(ids[0])"
    #expect(cluster.waitForSubscriber(channel: channel))
    let subscriberNode = try #require(cluster.nodesSubscribed(to: channel).first)
    let victim = try #require(try cluster.masters().first { $0 !== subscriberNode })
    try cluster.kill(victim)
    try cluster.storeAndPublish(ids.map { ($0, celeryMeta($0, "SUCCESS")) })
    let result = try process.finish(seconds: 60)
    #expect(result.status == 0, "\(result.stderr)")
    let seen = states(result)
    #expect(ids.allSatisfy { seen[$0] == ["STARTED", "SUCCESS"] })
  }

  @Test("a master and its replica both down: CLUSTERDOWN retried with backoff until they return, then resync")
  func clusterDown() throws {
    let cluster = try RedisClusterFixture()
    let ids = (0..<100).map { _ in newTaskID() }
    try cluster.storeAndPublish(ids.map { ($0, celeryMeta($0, "STARTED")) })
    let process = try TaskwatchProcess(
      ["-u", cluster.url(seeds: 6), "-t", "90s", "--retry-for", "60s", "-"], stdin: ids.joined(separator: "\n"))
    #expect(process.waitForLines(100, seconds: 20), "\(process.stderrSoFar)")
    // Not the subscriber's node: the link stays up until a read meets CLUSTERDOWN.
    let channel = "celery-task-meta-\(ids[0])"
    #expect(cluster.waitForSubscriber(channel: channel))
    let subscriberNode = try #require(cluster.nodesSubscribed(to: channel).first)
    let master = try #require(try cluster.masters().first { $0 !== subscriberNode })
    let replica = try #require(try cluster.replicas(of: master).first { $0 !== subscriberNode })
    // A task whose key a surviving master serves: reading it meets CLUSTERDOWN,
    // not the killed master's closed connection.
    let map = try cluster.slotMap()
    let probe = try #require(ids.first { map.master(ofSlot: RedisClusterFixture.slot(ofTask: $0)) != master.endpoint })
    replica.crash()
    master.crash()
    try cluster.waitUntilDown()
    // A READY message while the cluster is down: its confirmation gets CLUSTERDOWN.
    try cluster.run(["PUBLISH", "celery-task-meta-\(probe)", celeryMeta(probe, "SUCCESS")], on: subscriberNode)
    #expect(process.waitForErrors(seconds: 15) { $0.contains("CLUSTERDOWN") }, "\(process.stderrSoFar)")
    try master.start()
    try replica.start()
    try cluster.waitUntilServing()
    try cluster.storeAndPublish(ids.map { ($0, celeryMeta($0, "SUCCESS")) })
    let result = try process.finish(seconds: 60)
    #expect(result.status == 0, "\(result.stderr)")
    let seen = states(result)
    #expect(ids.allSatisfy { seen[$0] == ["STARTED", "SUCCESS"] })
    #expect(result.stderr.contains("reconnected to cluster via"))
  }

  @Test("a state still crossing the cluster bus during the snapshot is not reported after the newer stored one")
  func fenceWaitsForEveryMaster() throws {
    // Its own cluster: one master sleeps 3 s, under a node timeout of 10 s
    // (the shared one's 1 s would fail it over).
    let cluster = try RedisClusterFixture(nodeTimeout: 10_000)
    // taskwatch reads the map from its one seed, nodes[0], and subscribes
    // on the first master that map names: the fixture asks nodes[0] too.
    let masters = try cluster.masters()
    let subscriberNode = masters[0]
    let delayed = try #require(masters.first { $0 !== subscriberNode && $0 !== cluster.nodes[0] })
    let map = try cluster.slotMap()
    let slot = try #require((0..<16_384).first { map.master(ofSlot: $0) == subscriberNode.endpoint })
    let id = RedisClusterFixture.taskID(inSlot: slot)
    let key = "celery-task-meta-\(id)"
    let (started, retry) = (celeryMeta(id, "STARTED"), celeryMeta(id, "RETRY"))
    // One write, so the node runs all three before its event loop turns:
    // STARTED is published (still in the node's bus output), the node
    // sleeps, then RETRY is published; both cross the bus after the sleep,
    // in order, on the link to the subscriber's node.
    let publisher = try delayed.connection(password: cluster.password)
    publisher.append(["PUBLISH", key, started])
    publisher.append(["DEBUG", "SLEEP", "3"])
    publisher.append(["PUBLISH", key, retry])
    try publisher.flush(until: .after(seconds: 5))
    Thread.sleep(forTimeInterval: 0.2)
    // Stored meanwhile: what the snapshot reads, newer than STARTED.
    try cluster.set(key, retry)
    let process = try TaskwatchProcess(["-u", cluster.url(seeds: 1), "-t", "30s", id])
    #expect(process.waitForLines(1, seconds: 15), "\(process.stderrSoFar)")
    let replies = try publisher.replies(count: 3, until: .after(seconds: 15), operation: "DEBUG SLEEP")
    #expect(replies[1] == .status("OK"), "\(replies)")
    #expect(try cluster.nodesSubscribed(to: key).map(\.port) == [subscriberNode.port], "the premise: subscribed there")
    // Published on the same node, so it follows RETRY over the bus.
    let success = celeryMeta(id, "SUCCESS", result: "1")
    try cluster.set(key, success)
    publisher.append(["PUBLISH", key, success])
    try publisher.flush(until: .after(seconds: 5))
    _ = try publisher.replies(count: 1, until: .after(seconds: 5), operation: "PUBLISH")
    let result = try process.finish(seconds: 20)
    #expect(result.status == 0, "\(result.stderr)")
    // With a PING on the subscriber as the fence: RETRY, STARTED, RETRY, SUCCESS.
    #expect(result.states(of: id) == ["RETRY", "SUCCESS"], "\(result.stdout)")
    #expect(result.stderr.isEmpty, "\(result.stderr)")
  }
}
