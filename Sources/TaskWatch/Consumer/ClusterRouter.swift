/// The command side of a ``BackendLink`` to a Redis Cluster: the slot map,
/// one command connection per master that owns a fetched key (opened when
/// first needed), and the fetch that routes every key to its slot's master.
///
/// Each key is read with its own one-key `MGET` (so the reply has the shape
/// of the single-server path's), pipelined per master in the configured
/// batches, a batch to each master in turn. A `MOVED` reply reassigns the slot and, once the round is
/// read, the map is asked for again; an `ASK` reply sends `ASKING` and the
/// key to the named node in the next round. Any other error reply goes
/// through the funnel: `TRYAGAIN` and `CLUSTERDOWN` are transient, so the link
/// is lost and reconnects with backoff, which reads the map afresh.
/// Not `Sendable`: it belongs to its link's thread.
final class ClusterRouter {
  /// The settings of the link's reader.
  let configuration: ConsumerConfiguration
  /// Which master serves each slot, as last asked (or corrected by `MOVED`).
  private(set) var map: ClusterSlotMap
  private var connections: [RedisEndpoint: RedisConnection] = [:]
  /// Per master: fence markers `PUBLISH`ed whose replies are still unread
  /// (read before the connection's next command, see ``publishMarker(on:_:until:)``).
  private var unreadMarkers: [RedisEndpoint: Int] = [:]
  /// Redirection rounds per fetch before the link counts as lost.
  static let maximumRounds = 6

  /// Reads the slot map from the first node that answers, trying `known`
  /// (the nodes of an earlier map) after the URL's seeds.
  /// - Throws: the last node's connection fault when none answers (so the
  ///   link retries), and at once any error no retry cures (a refused
  ///   password, a server not in cluster mode).
  init(configuration: ConsumerConfiguration, known: [RedisEndpoint], until deadline: Deadline) throws {
    self.configuration = configuration
    var lastFault: RedisError?
    var candidates = configuration.backend.clusterNodes
    for node in known where !candidates.contains(node) { candidates.append(node) }
    for node in candidates {
      do {
        let connection = try configuration.openConnection(to: node, selecting: nil, until: deadline)
        let map = try connection.clusterSlotMap(tls: configuration.backend.tls != nil, until: deadline)
        guard map.servedSlots > 0 else {
          lastFault = .connectionLost(endpoint: node.description, reason: "the node serves no slot yet")
          continue
        }
        self.map = map
        if map.masters.contains(node) { connections[node] = connection }
        return
      } catch let error as RedisError where error.isConnectionFault {
        lastFault = error
      }
    }
    throw lastFault ?? RedisError.connectFailed(endpoint: configuration.backend.serverDescription, reason: "no node")
  }

  /// Every node of the map, masters first, starting `offset` places along
  /// the masters (so each reconnect puts the subscriber on another one).
  func subscriberCandidates(offset: Int) -> [RedisEndpoint] {
    let masters = map.masters
    guard !masters.isEmpty else { return map.nodes }
    let start = offset % masters.count
    let rotated = Array(masters[start...] + masters[..<start])
    return rotated + map.nodes.filter { !masters.contains($0) }
  }

  /// The command connection to `endpoint`, opened if needed, with the
  /// replies to earlier markers read.
  private func connection(to endpoint: RedisEndpoint, until deadline: Deadline) throws -> RedisConnection {
    if let open = connections[endpoint] {
      try readMarkerReplies(of: endpoint, on: open, until: deadline)
      return open
    }
    let opened = try configuration.openConnection(to: endpoint, selecting: nil, until: deadline)
    connections[endpoint] = opened
    return opened
  }

  /// `PUBLISH`es `payload` on `channel` through every master of the map (a
  /// fence, see `FenceMarkers`): every master's command is written before
  /// any is flushed again, and the replies are left unread until that
  /// connection's next command, so a fence costs the reader no round trip.
  /// - Returns: the number of masters published through.
  func publishMarker(on channel: [UInt8], _ payload: [UInt8], until deadline: Deadline) throws -> Int {
    let masters = map.masters
    var opened = [RedisConnection]()
    opened.reserveCapacity(masters.count)
    for master in masters {
      let connection = try connection(to: master, until: deadline)
      connection.append([Array("PUBLISH".utf8), channel, payload])
      unreadMarkers[master, default: 0] += 1
      opened.append(connection)
    }
    for connection in opened { try connection.flush(until: deadline) }
    return masters.count
  }

  /// Reads the replies to the markers published through `endpoint`: the
  /// number of its own subscribers that got one, or an error reply, thrown
  /// through the funnel (`NOPERM` for a user refused `PUBLISH`).
  private func readMarkerReplies(of endpoint: RedisEndpoint, on connection: RedisConnection, until deadline: Deadline)
    throws
  {
    guard let unread = unreadMarkers[endpoint], unread > 0 else { return }
    unreadMarkers[endpoint] = nil
    for reply in try connection.replies(count: unread, until: deadline, operation: "PUBLISH") {
      if case .error(let message) = reply {
        throw RedisError.reply(message, to: "PUBLISH", from: endpoint.description)
      }
    }
  }

  /// Reads the key of each of `handles` from its slot's master; calls `body`
  /// with the position in `handles` and the stored value (`.bulk` or
  /// `.null`) as the masters' replies come in, so positions come in no
  /// particular order.
  ///
  /// If `body` throws, the remaining replies are still read and then the
  /// error is rethrown, as on a single server.
  /// - Parameters:
  ///   - slot: the hash slot of a handle's key.
  ///   - format: builds the `MGET` for handles (called with one handle at a time).
  func fetch(
    _ handles: [Int], slot: (Int) -> Int, format: (ArraySlice<Int>) -> RedisCommand,
    _ body: (Int, RedisReply) throws -> Void
  ) throws {
    let deadline = Deadline.after(seconds: configuration.commandTimeout)
    var failure: (any Error)?
    // Per key still to read: the node an `ASK` named (`ASKING` first), or
    // `nil` for its slot's master in the map.
    var pending = [(position: Int, asking: RedisEndpoint?)]()
    pending.reserveCapacity(handles.count)
    for position in handles.indices { pending.append((position, nil)) }
    for _ in 0..<Self.maximumRounds {
      // By the master's place in the map, not by endpoint: hashing an
      // endpoint (its host string) per key, and copying it, took 3 % of
      // taskwatch's samples on a cluster at S4 (perf).
      // One copy of the map for the loop, not a retain of it per key.
      let current = map
      var byMaster = [[Int]](repeating: [], count: current.masters.count)
      var asked: [RedisEndpoint: [Lane.Key]] = [:]
      for (position, asking) in pending {
        if let asking {
          asked[asking, default: []].append(Lane.Key(position: position, asking: true))
          continue
        }
        let slot = slot(handles[position])
        guard let master = current.masterPosition(ofSlot: slot) else {
          throw RedisError.connectionLost(
            endpoint: configuration.backend.serverDescription, reason: "no master serves slot \(slot)")
        }
        byMaster[master].append(position)
      }
      // One lane per node: two on one connection (an `ASK` and a `MOVED`
      // naming the same node) would each take the other's replies.
      var groups: [(RedisEndpoint, [Lane.Key])] = []
      for (master, positions) in zip(current.masters, byMaster) where !positions.isEmpty {
        groups.append((master, positions.map { Lane.Key(position: $0, asking: false) } + asked[master, default: []]))
        asked[master] = nil
      }
      groups += asked.map { ($0.key, $0.value) }
      var redirected = [(position: Int, asking: RedisEndpoint?)]()
      var moved: [(slot: Int, master: RedisEndpoint)] = []
      func take(_ node: RedisEndpoint, _ position: Int, _ reply: RedisReply) throws {
        switch reply {
        case .array(let elements) where elements.count == 1:
          guard failure == nil else { return }
          do {
            try body(position, elements[0])
          } catch {
            failure = error
          }
        case .error(let message):
          let error = ServerError(message)
          guard error.kind == .redirection, let redirect = Redirect(error, replyingHost: node) else {
            throw RedisError.reply(error, to: "MGET", from: node.description)
          }
          if error.code == .moved {
            map.assign(redirect.slot...redirect.slot, to: redirect.endpoint)
            moved.append((redirect.slot, redirect.endpoint))
            redirected.append((position, nil))
          } else {
            redirected.append((position, redirect.endpoint))
          }
        default:
          throw RedisError.commandFailed(command: "MGET", message: "unexpected reply \(reply)")
        }
      }
      // A batch to each node in turn, so the masters work at the same time.
      var lanes = try groups.map { node, keys in
        Lane(connection: try connection(to: node, until: deadline), keys: keys)
      }
      var sending = true
      while sending {
        sending = false
        for index in lanes.indices where lanes[index].hasMore {
          try lanes[index].send(batchSize: configuration.batchSize, of: handles, until: deadline, format: format)
          try lanes[index].readBuffered(take)
          sending = sending || lanes[index].hasMore
        }
      }
      for index in lanes.indices { try lanes[index].readRest(until: deadline, take) }
      if !moved.isEmpty {
        refreshMap(until: deadline)
        // The node asked may not know of the move yet; the MOVED replies do.
        for (slot, master) in moved { map.assign(slot...slot, to: master) }
      }
      pending = redirected
      if pending.isEmpty { break }
    }
    if let failure { throw failure }
    guard pending.isEmpty else {
      throw RedisError.connectionLost(
        endpoint: configuration.backend.serverDescription,
        reason: "keys still redirected after \(Self.maximumRounds) rounds of MOVED/ASK")
    }
  }

  /// The keys of one fetch round that go to one node, and how far their
  /// pipeline got: a key an `ASK` sent there has its `MGET` preceded by
  /// `ASKING`, whose `OK` is read and dropped.
  private struct Lane {
    /// One key to read: its position in the fetch's handles, and whether
    /// an `ASK` sent it here.
    struct Key {
      let position: Int
      let asking: Bool
    }

    let connection: RedisConnection
    let keys: [Key]
    private var sent = 0
    /// Per reply expected: the position it answers; `nil` for `ASKING`'s `OK`.
    private var expected: [Int?] = []
    private var answered = 0

    init(connection: RedisConnection, keys: [Key]) {
      self.connection = connection
      self.keys = keys
    }

    var hasMore: Bool { sent < keys.count }

    /// Writes the next batch of one-key `MGET`s.
    mutating func send(
      batchSize: Int, of handles: [Int], until deadline: Deadline, format: (ArraySlice<Int>) -> RedisCommand
    ) throws {
      let end = min(sent + batchSize, keys.count)
      for key in keys[sent..<end] {
        if key.asking {
          connection.append(["ASKING"])
          expected.append(nil)
        }
        connection.append(format(handles[key.position...key.position]))
        expected.append(key.position)
      }
      sent = end
      try connection.flush(until: deadline)
    }

    /// Hands on the replies already received.
    mutating func readBuffered(_ take: (RedisEndpoint, Int, RedisReply) throws -> Void) throws {
      while answered < expected.count, let reply = try connection.bufferedReply() { try handle(reply, take) }
    }

    /// Waits for and hands on every reply still due.
    mutating func readRest(until deadline: Deadline, _ take: (RedisEndpoint, Int, RedisReply) throws -> Void) throws {
      while answered < expected.count {
        try handle(try connection.replies(count: 1, until: deadline, operation: "MGET")[0], take)
      }
    }

    private mutating func handle(_ reply: RedisReply, _ take: (RedisEndpoint, Int, RedisReply) throws -> Void) throws {
      defer { answered += 1 }
      guard let position = expected[answered] else {
        if case .error(let message) = reply {
          throw RedisError.reply(message, to: "ASKING", from: connection.endpoint.description)
        }
        return
      }
      try take(connection.endpoint, position, reply)
    }
  }

  /// Asks the masters this router already talks to, in turn, for the slot
  /// map again, after a `MOVED` (other slots may have moved too); keeps the
  /// map it has when none answers.
  private func refreshMap(until deadline: Deadline) {
    for (endpoint, connection) in connections {
      guard (try? readMarkerReplies(of: endpoint, on: connection, until: deadline)) != nil else { continue }
      if let fresh = try? connection.clusterSlotMap(tls: configuration.backend.tls != nil, until: deadline),
        fresh.servedSlots > 0
      {
        map = fresh
        return
      }
    }
  }

  /// A `MOVED <slot> <host>:<port>` or `ASK <slot> <host>:<port>` reply's parts.
  private struct Redirect {
    let slot: Int
    let endpoint: RedisEndpoint

    /// - Parameter node: the node that replied; its host stands in for an
    ///   empty one (`MOVED 3999 :6381`).
    init?(_ error: ServerError, replyingHost node: RedisEndpoint) {
      let words = error.message.split(separator: " ")
      guard words.count >= 3, let slot = Int(words[1]), (0..<ClusterSlot.count).contains(slot),
        let colon = words[2].lastIndex(of: ":"), let port = Int(words[2][words[2].index(after: colon)...])
      else { return nil }
      var host = String(words[2][..<colon])
      if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
      if host.isEmpty, case .tcp(let replying, _) = node { host = replying }
      self.slot = slot
      endpoint = .tcp(host: host, port: port)
    }
  }
}
