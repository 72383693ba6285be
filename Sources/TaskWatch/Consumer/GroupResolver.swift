/// Expands saved groups (`GroupResult.save()`) into the ids of their tasks,
/// waiting for groups that are not saved yet.
///
/// Celery stores a group under `celery-taskset-meta-<id>` and PUBLISHes the
/// same bytes on the channel of that name, so the consumer's protocol works
/// here too: SUBSCRIBE every group's channel and read the confirmations, only
/// then MGET the keys (on a second connection), and take the groups still
/// missing from their publish when it comes. Nested groups are stored inline
/// and expanded by ``SavedGroup``.
///
/// Not `Sendable`: one resolver belongs to one thread.
public final class GroupResolver {
  /// The connection settings and key naming (`global_keyprefix` applies).
  public let configuration: ConsumerConfiguration
  /// Longest single wait, so `shouldStop` is asked at least this often.
  private let waitSlice = 0.25

  /// What a resolution found.
  public struct Resolution: Sendable, Equatable {
    /// The tasks of every group found, groups in the order given, each
    /// group's tasks in stored order, each id once.
    public var taskIDs: [String]
    /// The groups still not saved when the wait ended (the deadline passed or
    /// `shouldStop` said so), in the order given; empty when all were found.
    public var unsavedGroupIDs: [String]
  }

  /// Creates a resolver; nothing connects until ``resolve(_:until:shouldStop:)``.
  public init(configuration: ConsumerConfiguration) {
    self.configuration = configuration
  }

  /// Reads the groups, waiting for the ones not saved yet.
  /// - Parameters:
  ///   - groupIDs: the groups, in order (duplicates are read once).
  ///   - deadline: when to stop waiting for unsaved groups; `nil` waits for
  ///     ever. A deadline already passed still reads what is stored.
  ///   - shouldStop: asked between waits (and after a signal interrupts
  ///     one); `true` ends the wait at once.
  /// - Throws: ``RedisError`` for connection and auth faults,
  ///   ``UndecodableGroupError`` for a group payload that cannot be read.
  public func resolve(_ groupIDs: [String], until deadline: Deadline?, shouldStop: () -> Bool) throws
    -> Resolution
  {
    var seen = Set<String>()
    let groups = groupIDs.filter { seen.insert($0).inserted }
    guard !groups.isEmpty else { return Resolution(taskIDs: [], unsavedGroupIDs: []) }
    let connectDeadline = Deadline.after(seconds: configuration.connectTimeout + configuration.commandTimeout)
    let endpoint = try configuration.serverEndpoint()
    let subscriber = try configuration.openConnection(to: endpoint, selecting: nil, until: connectDeadline)
    let commands = try configuration.openConnection(
      to: endpoint, selecting: configuration.backend.database, until: connectDeadline)
    let channels = groups.map { Array(configuration.keyNaming.key(forGroup: $0).utf8) }
    var found = [SavedGroup?](repeating: nil, count: groups.count)

    let published = try subscribe(subscriber, to: channels)
    for (index, reply) in try fetchStored(commands, keys: channels).enumerated() {
      if case .bulk(let payload) = reply {
        found[index] = try decode(payload, groupID: groups[index])
      }
    }
    for (index, payload) in published where found[index] == nil {
      found[index] = try decode(payload, groupID: groups[index])
    }
    while found.contains(nil) && !shouldStop() && !(deadline?.hasPassed ?? false) {
      let slice = Deadline.earliest(.after(seconds: waitSlice), deadline)
      guard let reply = try subscriber.nextReply(until: slice) else { continue }
      switch PubSubEvent(reply) {
      case .message(let channel, let payload):
        if let index = channels.firstIndex(of: channel), found[index] == nil {
          found[index] = try decode(payload, groupID: groups[index])
        }
      case .error(let message):
        throw Self.serverError(message, command: "SUBSCRIBE", endpoint: subscriber.endpoint)
      case .subscribed, .other:
        continue
      }
    }

    var taskIDs = [String]()
    var known = Set<String>()
    for group in found.compactMap({ $0 }) {
      for id in group.taskIDs where known.insert(id).inserted { taskIDs.append(id) }
    }
    let unsaved = zip(groups, found).filter { $0.1 == nil }.map(\.0)
    return Resolution(taskIDs: taskIDs, unsavedGroupIDs: unsaved)
  }

  // MARK: - Protocol steps

  /// SUBSCRIBEs in batches and reads every confirmation.
  /// - Returns: the first payload published meanwhile on each channel, by index.
  private func subscribe(_ subscriber: RedisConnection, to channels: [[UInt8]]) throws -> [Int: [UInt8]] {
    let deadline = Deadline.after(seconds: configuration.commandTimeout)
    for batch in channels.chunked(by: configuration.batchSize) {
      subscriber.append([Array("SUBSCRIBE".utf8)] + batch)
    }
    try subscriber.flush(until: deadline)
    var published = [Int: [UInt8]]()
    var confirmed = 0
    while confirmed < channels.count {
      guard let reply = try subscriber.nextReply(until: deadline) else {
        if deadline.hasPassed {
          throw RedisError.timedOut(endpoint: subscriber.endpoint.description, operation: "SUBSCRIBE")
        }
        continue
      }
      switch PubSubEvent(reply) {
      case .subscribed:
        confirmed += 1
      case .message(let channel, let payload):
        if let index = channels.firstIndex(of: channel), published[index] == nil { published[index] = payload }
      case .error(let message):
        throw Self.serverError(message, command: "SUBSCRIBE", endpoint: subscriber.endpoint)
      case .other:
        continue
      }
    }
    return published
  }

  /// Pipelined MGET of the group keys, in batches; one reply per key.
  private func fetchStored(_ commands: RedisConnection, keys: [[UInt8]]) throws -> [RedisReply] {
    let deadline = Deadline.after(seconds: configuration.commandTimeout)
    let batches = keys.chunked(by: configuration.batchSize)
    for batch in batches {
      commands.append([Array("MGET".utf8)] + batch)
    }
    try commands.flush(until: deadline)
    var values = [RedisReply]()
    for reply in try commands.replies(count: batches.count, until: deadline, operation: "MGET") {
      switch reply {
      case .array(let elements): values.append(contentsOf: elements)
      case .error(let message): throw Self.serverError(message, command: "MGET", endpoint: commands.endpoint)
      default: throw RedisError.commandFailed(command: "MGET", message: "unexpected reply \(reply)")
      }
    }
    return values
  }

  private func decode(_ payload: [UInt8], groupID: String) throws -> SavedGroup {
    do {
      return try SavedGroup.decode(payload)
    } catch {
      throw UndecodableGroupError(groupID: groupID, reason: error)
    }
  }

  private static func serverError(_ message: String, command: String, endpoint: RedisEndpoint) -> RedisError {
    RedisError.isAuthenticationError(message)
      ? .authenticationFailed(endpoint: endpoint.description, message: message)
      : .commandFailed(command: command, message: message)
  }
}
