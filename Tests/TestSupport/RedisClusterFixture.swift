import Foundation
import TaskWatch

/// A throwaway Redis Cluster on free loopback ports: six `redis-server
/// --cluster-enabled yes` nodes (each with its cluster bus port, port +
/// 10,000, free too), joined by `redis-cli --cluster create
/// --cluster-replicas 1` into three masters with one replica each
/// (`cluster-node-timeout` 1,000 ms by default, so a killed master's replica
/// takes over within a few seconds). `DEBUG` is enabled for local clients
/// (`--enable-debug-command local`), so a test can stall one node with
/// `DEBUG SLEEP` (on a cluster with a node timeout longer than the sleep).
///
/// Every node is a ``RedisServer`` in its own directory (its `nodes.conf`
/// stays there, so a restarted node rejoins), started here and stopped by
/// its PID. The helpers route writes the way a cluster client does.
public final class RedisClusterFixture: @unchecked Sendable {
  /// The six nodes, in the order given to `redis-cli --cluster create`.
  public let nodes: [RedisServer]
  /// The password every node requires (`requirepass`, `masterauth`), if any.
  public let password: String?

  /// Starts the nodes, creates the cluster and waits until it is healthy.
  /// - Parameter nodeTimeout: `cluster-node-timeout` in milliseconds: how
  ///   long a silent node may stay silent before its replica may take over.
  public init(password: String? = nil, nodeTimeout: Int = 1_000) throws {
    self.password = password
    let auth = password.map { ["--requirepass", $0, "--masterauth", $0] } ?? []
    nodes = try (0..<6).map { _ in
      try RedisServer(
        extraArguments: [
          "--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf", "--cluster-node-timeout",
          String(nodeTimeout), "--enable-debug-command", "local",
        ] + auth, pickingPortsWith: FreePort.pickForClusterNode)
    }
    let create = try CapturedProcess(
      try Self.executable("redis-cli"),
      (password.map { ["-a", $0, "--no-auth-warning"] } ?? []) + ["--cluster", "create"]
        + nodes.map { "127.0.0.1:\($0.port)" } + ["--cluster-replicas", "1", "--cluster-yes"])
    let created = try create.finish(seconds: 60)
    guard created.status == 0 else {
      throw TestSupportError("redis-cli --cluster create failed: \(created.stdout) \(created.stderr)")
    }
    try waitUntilHealthy()
  }

  /// The cluster shared by the tests that kill no node (password `s3cret`),
  /// started on first use and killed when the test process exits.
  public static func shared() throws -> RedisClusterFixture {
    try sharedCluster.get()
  }

  private static let sharedCluster = Result {
    let cluster = try RedisClusterFixture(password: "s3cret")
    pidsToKillAtExit = cluster.nodes.compactMap(\.pid)
    atexit {
      for pid in RedisClusterFixture.pidsToKillAtExit { Glibc.kill(pid, SIGKILL) }
    }
    return cluster
  }
  nonisolated(unsafe) private static var pidsToKillAtExit: [Int32] = []

  /// The URL naming the first `seeds` nodes, e.g.
  /// `redis+cluster://:pw@127.0.0.1:1,127.0.0.1:2`.
  public func url(seeds: Int = 2, password override: String? = nil) -> String {
    let secret = override ?? password
    let credentials = secret.map { ":\($0)@" } ?? ""
    return "redis+cluster://\(credentials)" + nodes.prefix(seeds).map { "127.0.0.1:\($0.port)" }.joined(separator: ",")
  }

  /// Runs one command on `node`.
  @discardableResult
  package func run(_ arguments: [String], on node: RedisServer) throws -> RedisReply {
    try node.run(arguments, password: password)
  }

  /// The slot map as a running node reports it.
  package func slotMap() throws -> ClusterSlotMap {
    var lastError: (any Error)?
    for node in nodes where node.pid != nil {
      do {
        return try node.connection(password: password).clusterSlotMap(tls: false, until: .after(seconds: 5))
      } catch {
        lastError = error
      }
    }
    throw lastError ?? TestSupportError("no cluster node is running")
  }

  /// The node that serves `slot` now.
  public func master(ofSlot slot: Int) throws -> RedisServer {
    guard let endpoint = try slotMap().master(ofSlot: slot), let node = nodes.first(where: { $0.endpoint == endpoint })
    else { throw TestSupportError("no master serves slot \(slot)") }
    return node
  }

  /// The masters now, in the map's order.
  public func masters() throws -> [RedisServer] {
    try slotMap().masters.compactMap { endpoint in nodes.first { $0.endpoint == endpoint } }
  }

  /// A new task id whose key (`celery-task-meta-<id>`) lies in `slot`.
  public static func taskID(inSlot slot: Int) -> String {
    let prefix = Array("celery-task-meta-".utf8)
    while true {
      let id = newTaskID()
      if ClusterSlot.of(prefix, id) == slot { return id }
    }
  }

  /// The slot of a task's key.
  public static func slot(ofTask id: String) -> Int {
    ClusterSlot.of(Array("celery-task-meta-".utf8), id)
  }

  /// Stores (SETEX on the key's master, following `MOVED`, `ASK` and
  /// waiting out `CLUSTERDOWN`/`TRYAGAIN` for up to 15 s) and publishes (on any
  /// running node) a task's meta, as `celery-redis-cluster` does (its
  /// client, redis-py's `RedisCluster`, sends the `PUBLISH` to the key's
  /// master; any node makes the tests cross the cluster bus too).
  public func storeAndPublish(taskID: String, json: String, store: Bool = true) throws {
    let key = "celery-task-meta-\(taskID)"
    if store { try send(["SETEX", key, "86400", json], slot: ClusterSlot.of(Array(key.utf8))) }
    var lastError: (any Error)?
    for node in nodes where node.pid != nil {
      do {
        if case .integer = try run(["PUBLISH", key, json], on: node) { return }
      } catch {
        lastError = error
      }
    }
    throw lastError ?? TestSupportError("PUBLISH failed on every node")
  }

  /// Stores and publishes many metas at once: one pipeline per master (as
  /// the map says now, no redirections followed), then the `PUBLISH`es on one
  /// node.
  public func storeAndPublish(_ metas: [(taskID: String, json: String)], store: Bool = true) throws {
    let map = try slotMap()
    var connections: [RedisEndpoint: RedisConnection] = [:]
    var counts: [RedisEndpoint: Int] = [:]
    if store {
      for (id, json) in metas {
        let key = "celery-task-meta-\(id)"
        guard let endpoint = map.master(ofSlot: ClusterSlot.of(Array(key.utf8))),
          let node = nodes.first(where: { $0.endpoint == endpoint })
        else { throw TestSupportError("no master for \(key)") }
        if connections[endpoint] == nil { connections[endpoint] = try node.connection(password: password) }
        connections[endpoint]?.append(["SETEX", key, "86400", json])
        counts[endpoint, default: 0] += 1
      }
    }
    let publisher = try (nodes.first { $0.pid != nil } ?? nodes[0]).connection(password: password)
    for (id, json) in metas { publisher.append(["PUBLISH", "celery-task-meta-\(id)", json]) }
    for (endpoint, connection) in connections {
      try connection.flush(until: .after(seconds: 10))
      let replies = try connection.replies(count: counts[endpoint] ?? 0, until: .after(seconds: 10), operation: "SETEX")
      if let failed = replies.first(where: { $0 != .status("OK") }) { throw TestSupportError("SETEX: \(failed)") }
    }
    try publisher.flush(until: .after(seconds: 10))
    _ = try publisher.replies(count: metas.count, until: .after(seconds: 10), operation: "PUBLISH")
  }

  /// Sets `key` on its slot's master, following redirections.
  public func set(_ key: String, _ value: String) throws {
    try send(["SET", key, value], slot: ClusterSlot.of(Array(key.utf8)))
  }

  /// The value of `key`, read from its slot's master, following redirections.
  public func get(_ key: String) throws -> String? {
    try send(["GET", key], slot: ClusterSlot.of(Array(key.utf8))).text
  }

  /// Runs a command on one key on the slot's master, as a cluster client
  /// does, and returns its reply.
  @discardableResult
  private func send(_ arguments: [String], slot: Int) throws -> RedisReply {
    let deadline = Deadline.after(seconds: 15)
    var target = try? master(ofSlot: slot)
    var asking = false
    while true {
      var reply = RedisReply.error("CLUSTERDOWN no master known")
      if let node = target, let connection = try? node.connection(password: password) {
        if asking { _ = try connection.command(["ASKING"], until: .after(seconds: 5)) }
        reply = (try? connection.command(arguments, until: .after(seconds: 5))) ?? .error("TRYAGAIN lost")
      }
      guard case .error(let message) = reply else { return reply }
      if deadline.hasPassed { throw TestSupportError("\(arguments[0]) kept failing: \(message)") }
      let words = message.split(separator: " ")
      if words.first == "ASK" || words.first == "MOVED", words.count >= 3,
        let port = words[2].split(separator: ":").last.flatMap({ Int($0) })
      {
        target = nodes.first { $0.port == port }
        asking = words.first == "ASK"
        continue
      }
      usleep(100_000)
      target = try? master(ofSlot: slot)
      asking = false
    }
  }

  /// Starts moving `slot` from its master to `target` by hand: `IMPORTING` on
  /// the target, `MIGRATING` on the source, then `MIGRATE` of `keys` only, so
  /// the source answers `ASK` for those keys (and for keys it lacks).
  public func beginMigration(slot: Int, to target: RedisServer, keys: [String]) throws {
    let source = try master(ofSlot: slot)
    try expectOK(run(["CLUSTER", "SETSLOT", String(slot), "IMPORTING", try nodeID(of: source)], on: target))
    try expectOK(run(["CLUSTER", "SETSLOT", String(slot), "MIGRATING", try nodeID(of: target)], on: source))
    guard !keys.isEmpty else { return }
    let migrate =
      ["MIGRATE", "127.0.0.1", String(target.port), "", "0", "5000"] + (password.map { ["AUTH", $0] } ?? [])
      + ["KEYS"] + keys
    try expectOK(run(migrate, on: source))
  }

  /// Ends a migration begun with ``beginMigration(slot:to:keys:)``: moves the
  /// slot's remaining keys and assigns the slot to `target` on every master,
  /// so the old owner answers `MOVED`.
  public func finishMigration(slot: Int, to target: RedisServer) throws {
    let source = try master(ofSlot: slot)
    while case .array(let keys) = try run(["CLUSTER", "GETKEYSINSLOT", String(slot), "100"], on: source),
      !keys.isEmpty
    {
      let migrate =
        ["MIGRATE", "127.0.0.1", String(target.port), "", "0", "5000"] + (password.map { ["AUTH", $0] } ?? [])
        + ["KEYS"] + keys.compactMap(\.text)
      try expectOK(run(migrate, on: source))
    }
    let targetID = try nodeID(of: target)
    for node in [target, source] + (try masters()) {
      try expectOK(run(["CLUSTER", "SETSLOT", String(slot), "NODE", targetID], on: node))
    }
  }

  /// Kills `node` with SIGKILL and, when it was a master, waits until its
  /// replica took over and every other running node reports `cluster_state:ok`.
  public func kill(_ node: RedisServer, seconds: Double = 30) throws {
    node.crash()
    let deadline = Deadline.after(seconds: seconds)
    while true {
      if (try? clusterIsServing(ignoring: node)) == true { return }
      if deadline.hasPassed { throw TestSupportError("the cluster did not recover within \(seconds) s") }
      usleep(100_000)
    }
  }

  /// The replicas of `master`, as it lists them (`CLUSTER REPLICAS`).
  public func replicas(of master: RedisServer) throws -> [RedisServer] {
    guard case .array(let lines) = try run(["CLUSTER", "REPLICAS", try nodeID(of: master)], on: master) else {
      return []
    }
    return lines.compactMap { line in
      nodes.first { node in line.text?.contains(" 127.0.0.1:\(node.port)@") == true }
    }
  }

  /// Waits until every running node reports `cluster_state:ok` and every slot
  /// is served by a running master.
  public func waitUntilServing(seconds: Double = 30) throws {
    let deadline = Deadline.after(seconds: seconds)
    while (try? clusterIsServing(ignoring: nil)) != true {
      if deadline.hasPassed { throw TestSupportError("the cluster did not serve every slot within \(seconds) s") }
      usleep(100_000)
    }
  }

  /// Waits until a running node reports `cluster_state:fail`.
  public func waitUntilDown(seconds: Double = 30) throws {
    let deadline = Deadline.after(seconds: seconds)
    while true {
      let states = nodes.filter { $0.pid != nil }.compactMap { try? run(["CLUSTER", "INFO"], on: $0).text }
      if states.contains(where: { $0.contains("cluster_state:fail") }) { return }
      if deadline.hasPassed { throw TestSupportError("the cluster did not go down within \(seconds) s") }
      usleep(100_000)
    }
  }

  /// The running nodes that have a subscriber for `channel` (`PUBSUB NUMSUB`
  /// counts a node's own clients only).
  public func nodesSubscribed(to channel: String) -> [RedisServer] {
    nodes.filter { node in
      guard node.pid != nil, case .array(let parts)? = try? run(["PUBSUB", "NUMSUB", channel], on: node),
        parts.count == 2
      else { return false }
      return parts[1] != .integer(0)
    }
  }

  /// Waits until some node has a subscriber for `channel`.
  public func waitForSubscriber(channel: String, seconds: Double = 10) -> Bool {
    let deadline = Deadline.after(seconds: seconds)
    while !deadline.hasPassed {
      if !nodesSubscribed(to: channel).isEmpty { return true }
      usleep(10_000)
    }
    return false
  }

  private func clusterIsServing(ignoring dead: RedisServer?) throws -> Bool {
    for node in nodes where node.pid != nil && node !== dead {
      guard let info = try run(["CLUSTER", "INFO"], on: node).text, info.contains("cluster_state:ok") else {
        return false
      }
    }
    let map = try slotMap()
    return map.servedSlots == ClusterSlot.count
      && map.masters.allSatisfy { endpoint in nodes.contains { $0.endpoint == endpoint && $0.pid != nil } }
  }

  private func waitUntilHealthy() throws {
    let deadline = Deadline.after(seconds: 30)
    while true {
      let replicasUp = nodes.allSatisfy { node in
        guard let info = try? run(["INFO", "replication"], on: node).text else { return false }
        return info.contains("role:master") || info.contains("master_link_status:up")
      }
      if replicasUp, (try? clusterIsServing(ignoring: nil)) == true, try masters().count == 3 { return }
      if deadline.hasPassed { throw TestSupportError("the cluster was not healthy within 30 s") }
      usleep(100_000)
    }
  }

  /// The cluster's id of `node` (`CLUSTER MYID`), as `CLUSTER SETSLOT` and
  /// `redis-cli --cluster reshard` name it.
  public func nodeID(of node: RedisServer) throws -> String {
    guard let id = try run(["CLUSTER", "MYID"], on: node).text else {
      throw TestSupportError("CLUSTER MYID gave no id")
    }
    return id
  }

  private func expectOK(_ reply: RedisReply) throws {
    guard reply == .status("OK") || reply == .status("NOKEY") else {
      throw TestSupportError("expected OK, got \(reply)")
    }
  }

  private static func executable(_ name: String) throws -> String {
    for directory in ["/usr/bin", "/usr/local/bin", "/usr/sbin"] {
      let path = directory + "/" + name
      if FileManager.default.isExecutableFile(atPath: path) { return path }
    }
    throw TestSupportError("\(name) is not installed (run scripts/setup)")
  }
}
