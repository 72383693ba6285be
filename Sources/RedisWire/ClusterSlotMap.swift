/// Which master of a Redis Cluster serves each hash slot, as `CLUSTER SHARDS`
/// (Redis 7) or `CLUSTER SLOTS` (Redis 6) reports it, with every node the
/// reply names (masters first), for choosing a subscriber node.
package struct ClusterSlotMap: Sendable, Equatable {
  /// The masters that serve at least one slot, in the order first seen.
  package private(set) var masters: [RedisEndpoint] = []
  /// Every node named (masters, then replicas), without repeats.
  package private(set) var nodes: [RedisEndpoint] = []
  /// For each slot, the position of its master in ``masters``; -1 for a
  /// slot no master serves. 2 bytes a slot (32 KB), not an `Int?`'s 16
  /// (256 KB): a lookup per key read stays in cache (the lookup took 1.4 %
  /// of taskwatch's samples on a cluster at S4, perf).
  private var owners = [Int16](repeating: -1, count: ClusterSlot.count)

  /// An empty map: no slot served.
  package init() {}

  /// The master serving `slot`, if any.
  package func master(ofSlot slot: Int) -> RedisEndpoint? {
    masterPosition(ofSlot: slot).map { masters[$0] }
  }

  /// The place in ``masters`` of the master serving `slot`, if any.
  package func masterPosition(ofSlot slot: Int) -> Int? {
    let owner = owners[slot]
    return owner < 0 ? nil : Int(owner)
  }

  /// The number of slots some master serves (16,384 on a healthy cluster).
  package var servedSlots: Int { owners.count { $0 >= 0 } }

  /// Records that `master` serves `slots` (a `MOVED` reply says so for one slot).
  package mutating func assign(_ slots: ClosedRange<Int>, to master: RedisEndpoint) {
    let position: Int
    if let known = masters.firstIndex(of: master) {
      position = known
    } else {
      position = masters.count
      masters.append(master)
    }
    note(master)
    for slot in slots.clamped(to: 0...(ClusterSlot.count - 1)) { owners[slot] = Int16(position) }
  }

  private mutating func note(_ node: RedisEndpoint) {
    if !nodes.contains(node) { nodes.append(node) }
  }

  /// Parses a `CLUSTER SHARDS` reply (RESP2: each shard and each node is a
  /// flat list of field names and values).
  /// - Parameters:
  ///   - queriedHost: the host of the node asked, for nodes that report no
  ///     address of their own (`endpoint` `?` or empty).
  ///   - tls: take each node's `tls-port` when it has one.
  /// - Returns: `nil` when the reply is not a list of shards.
  package static func parseShards(_ reply: RedisReply, queriedHost: String, tls: Bool) -> ClusterSlotMap? {
    guard case .array(let shards) = reply else { return nil }
    var map = ClusterSlotMap()
    var replicas: [RedisEndpoint] = []
    for shard in shards {
      guard let shardFields = fields(of: shard), case .array(let slotBounds)? = shardFields["slots"],
        case .array(let nodeList)? = shardFields["nodes"]
      else { return nil }
      var master: RedisEndpoint?
      for node in nodeList {
        guard let node = fields(of: node) else { return nil }
        let port = (tls ? integer(node["tls-port"]) : nil) ?? integer(node["port"])
        guard let port, port > 0 else { continue }
        let host =
          [node["endpoint"]?.text, node["ip"]?.text].compactMap { $0 }
          .first { !$0.isEmpty && $0 != "?" } ?? queriedHost
        let endpoint = RedisEndpoint.tcp(host: host, port: port)
        guard node["role"]?.text == "master" else {
          replicas.append(endpoint)
          continue
        }
        // A master marked failed gives way to one that is not (a failover in progress).
        if master == nil || node["health"]?.text != "fail" { master = endpoint }
      }
      guard let master else { continue }
      let bounds = slotBounds.compactMap { integer($0) }
      for start in stride(from: 0, to: bounds.count - 1, by: 2) where bounds[start] <= bounds[start + 1] {
        map.assign(bounds[start]...bounds[start + 1], to: master)
      }
    }
    for replica in replicas { map.note(replica) }
    return map
  }

  /// Parses a `CLUSTER SLOTS` reply: `[start, end, [host, port, id], replicas…]` per range.
  /// - Returns: `nil` when the reply is not a list of ranges.
  package static func parseSlots(_ reply: RedisReply, queriedHost: String) -> ClusterSlotMap? {
    guard case .array(let ranges) = reply else { return nil }
    var map = ClusterSlotMap()
    var replicas: [RedisEndpoint] = []
    for range in ranges {
      guard case .array(let parts) = range, parts.count >= 3, let start = integer(parts[0]),
        let end = integer(parts[1]), start <= end
      else { return nil }
      let nodes = parts[2...].compactMap { node -> RedisEndpoint? in
        guard case .array(let address) = node, address.count >= 2, let port = integer(address[1]) else { return nil }
        let host = address[0].text.flatMap { $0.isEmpty || $0 == "?" ? nil : $0 } ?? queriedHost
        return .tcp(host: host, port: port)
      }
      guard let master = nodes.first else { return nil }
      map.assign(start...end, to: master)
      replicas.append(contentsOf: nodes.dropFirst())
    }
    for replica in replicas { map.note(replica) }
    return map
  }

  private static func fields(of reply: RedisReply) -> [String: RedisReply]? {
    guard case .array(let items) = reply, items.count % 2 == 0 else { return nil }
    var fields: [String: RedisReply] = [:]
    for start in stride(from: 0, to: items.count, by: 2) {
      guard let name = items[start].text else { return nil }
      fields[name] = items[start + 1]
    }
    return fields
  }

  private static func integer(_ reply: RedisReply?) -> Int? {
    switch reply {
    case .integer(let value)?: return Int(value)
    case .bulk, .status: return reply?.text.flatMap { Int($0) }
    default: return nil
    }
  }
}

extension RedisConnection {
  /// Asks this cluster node which master serves each slot: `CLUSTER SHARDS`,
  /// or `CLUSTER SLOTS` on a server that does not know it (Redis 6).
  /// - Parameter tls: the client uses TLS (take the nodes' TLS ports).
  /// - Throws: the funnelled error reply (a server not in cluster mode refuses
  ///   both), or `RedisError.commandFailed` for a reply that makes no sense.
  package func clusterSlotMap(tls: Bool, until deadline: Deadline) throws -> ClusterSlotMap {
    let host: String
    if case .tcp(let name, _) = endpoint { host = name } else { host = "127.0.0.1" }
    let shards = try command(["CLUSTER", "SHARDS"], until: deadline)
    if case .error(let message) = shards {
      let error = ServerError(message)
      guard error.code == .err, message.lowercased().contains("unknown subcommand") else {
        throw RedisError.reply(error, to: "CLUSTER SHARDS", from: endpoint.description)
      }
      let slots = try command(["CLUSTER", "SLOTS"], until: deadline)
      if case .error(let message) = slots {
        throw RedisError.reply(message, to: "CLUSTER SLOTS", from: endpoint.description)
      }
      guard let map = ClusterSlotMap.parseSlots(slots, queriedHost: host) else {
        throw RedisError.commandFailed(command: "CLUSTER SLOTS", message: "unexpected reply \(slots)")
      }
      return map
    }
    guard let map = ClusterSlotMap.parseShards(shards, queriedHost: host, tls: tls) else {
      throw RedisError.commandFailed(command: "CLUSTER SHARDS", message: "unexpected reply \(shards)")
    }
    return map
  }
}
