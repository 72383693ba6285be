@preconcurrency import CHiredis
import Glibc

/// One connection to Redis, and the only type that calls hiredis.
///
/// The hiredis context is switched to non-blocking mode right after connecting,
/// so every wait is a `poll()` with a deadline followed by `redisBufferRead`
/// and `redisGetReplyFromReader`. `redisSetTimeout` is never used: a hiredis
/// context whose read timed out is dead for good.
///
/// Commands are appended (`redisAppendCommandArgv`, binary-safe, copied by
/// hiredis), written by ``flush(until:)``, and their replies read in order with
/// ``nextReply(until:)``, so many commands can be pipelined in one round trip.
/// Replies are copied into ``RedisReply`` and freed at once.
///
/// Not `Sendable`: a connection belongs to one thread at a time.
public final class RedisConnection {
  /// The server this connection talks to.
  public let endpoint: RedisEndpoint
  private let context: UnsafeMutablePointer<redisContext>

  /// Connects to `endpoint`, waiting at most `connectTimeout` seconds.
  ///
  /// Wraps `redisConnectWithTimeout` / `redisConnectUnixWithTimeout`. TCP
  /// connections get keepalive (`redisEnableKeepAlive`); unix sockets do not,
  /// since it fails there and poisons the context.
  /// - Throws: ``RedisError/connectFailed(endpoint:reason:)``.
  public init(endpoint: RedisEndpoint, connectTimeout: Double) throws {
    Self.ignoreSIGPIPE
    self.endpoint = endpoint
    let timeout = timeval(
      tv_sec: Int(connectTimeout),
      tv_usec: Int((connectTimeout - connectTimeout.rounded(.down)) * 1_000_000))
    let connected: UnsafeMutablePointer<redisContext>?
    switch endpoint {
    case .tcp(let host, let port):
      connected = redisConnectWithTimeout(host, Int32(port), timeout)
    case .unix(let path):
      connected = redisConnectUnixWithTimeout(path, timeout)
    }
    guard let connected else {
      throw RedisError.connectFailed(endpoint: endpoint.description, reason: "out of memory")
    }
    if connected.pointee.err != 0 {
      let reason = Self.errorText(of: connected)
      redisFree(connected)
      throw RedisError.connectFailed(endpoint: endpoint.description, reason: reason)
    }
    context = connected
    if case .tcp = endpoint, redisEnableKeepAlive(context) != REDIS_OK {
      let reason = Self.errorText(of: context)
      redisFree(context)
      throw RedisError.connectFailed(endpoint: endpoint.description, reason: reason)
    }
    let fd = context.pointee.fd
    _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
    context.pointee.flags &= ~Int32(REDIS_BLOCK)
  }

  deinit {
    redisFree(context)
  }

  /// The socket's file descriptor, for callers that wait on several connections.
  public var fileDescriptor: Int32 { context.pointee.fd }

  // MARK: - Writing

  /// Queues one command; nothing is sent until ``flush(until:)``.
  ///
  /// Wraps `redisAppendCommandArgv`, which copies the arguments.
  public func append(_ arguments: [[UInt8]]) {
    var lengths = arguments.map(\.count)
    var storage = [UInt8]()
    storage.reserveCapacity(lengths.reduce(0, +))
    for argument in arguments { storage.append(contentsOf: argument) }
    storage.withUnsafeBufferPointer { buffer in
      let base = UnsafeRawPointer(buffer.baseAddress ?? UnsafePointer(bitPattern: 1)!)
      var offset = 0
      var pointers = [UnsafePointer<CChar>?]()
      pointers.reserveCapacity(lengths.count)
      for length in lengths {
        pointers.append((base + offset).assumingMemoryBound(to: CChar.self))
        offset += length
      }
      _ = redisAppendCommandArgv(context, Int32(arguments.count), &pointers, &lengths)
    }
  }

  /// Queues one command given as text arguments.
  public func append(_ arguments: [String]) {
    append(arguments.map { Array($0.utf8) })
  }

  /// Writes every queued command, waiting for the socket at most until `deadline`.
  ///
  /// While the socket is not writable, whatever the server already sent is read
  /// into the reply buffer, so a long pipeline never stalls on a full receive
  /// window. Wraps `redisBufferWrite`.
  /// - Throws: ``RedisError/connectionLost(endpoint:reason:)`` or ``RedisError/timedOut(endpoint:operation:)``.
  public func flush(until deadline: Deadline) throws {
    var done: Int32 = 0
    while true {
      guard redisBufferWrite(context, &done) == REDIS_OK else { throw fault() }
      if done != 0 { return }
      var descriptor = pollfd(fd: context.pointee.fd, events: Int16(POLLOUT | POLLIN), revents: 0)
      let ready = poll(&descriptor, 1, deadline.remainingPollMilliseconds)
      if ready < 0 && errno == EINTR { continue }
      if ready == 0 && deadline.hasPassed {
        throw RedisError.timedOut(endpoint: endpoint.description, operation: "a write")
      }
      if descriptor.revents & Int16(POLLIN) != 0 {
        guard redisBufferRead(context) == REDIS_OK else { throw fault() }
      }
    }
  }

  // MARK: - Reading

  /// Returns the next reply, waiting at most until `deadline`.
  ///
  /// Returns `nil` when the deadline passes first, or when a signal interrupts
  /// the wait (so the caller can look at why). A deadline already passed still
  /// looks once at what the socket holds.
  /// - Throws: ``RedisError/connectionLost(endpoint:reason:)`` when the link breaks.
  public func nextReply(until deadline: Deadline) throws -> RedisReply? {
    while true {
      if let reply = try bufferedReply() { return reply }
      var descriptor = pollfd(fd: context.pointee.fd, events: Int16(POLLIN), revents: 0)
      let ready = poll(&descriptor, 1, deadline.remainingPollMilliseconds)
      if ready < 0 && errno == EINTR { return nil }
      if ready == 0 { return nil }
      guard redisBufferRead(context) == REDIS_OK else { throw fault() }
      if let reply = try replyFromReader() { return reply }
      if deadline.hasPassed { return nil }
    }
  }

  /// Returns a reply that can be had without waiting: one already parsed, or
  /// one completed by whatever the socket holds right now.
  public func bufferedReply() throws -> RedisReply? {
    if let reply = try replyFromReader() { return reply }
    guard redisBufferRead(context) == REDIS_OK else { throw fault() }
    return try replyFromReader()
  }

  /// Reads exactly `count` replies in order, all before `deadline`.
  /// - Throws: ``RedisError/timedOut(endpoint:operation:)`` if they do not all arrive.
  public func replies(count: Int, until deadline: Deadline, operation: String) throws -> [RedisReply] {
    var replies = [RedisReply]()
    replies.reserveCapacity(count)
    while replies.count < count {
      guard let reply = try nextReply(until: deadline) else {
        if deadline.hasPassed {
          throw RedisError.timedOut(endpoint: endpoint.description, operation: operation)
        }
        continue
      }
      replies.append(reply)
    }
    return replies
  }

  /// Sends one command and returns its reply (error replies are returned, not thrown).
  public func command(_ arguments: [String], until deadline: Deadline) throws -> RedisReply {
    append(arguments)
    try flush(until: deadline)
    return try replies(count: 1, until: deadline, operation: arguments.first ?? "a command")[0]
  }

  /// Sends `AUTH [username] password`.
  /// - Throws: ``RedisError/authenticationFailed(endpoint:message:)`` when refused.
  public func authenticate(username: String?, password: String, until deadline: Deadline) throws {
    let arguments = ["AUTH"] + (username.map { [$0] } ?? []) + [password]
    if case .error(let message) = try command(arguments, until: deadline) {
      if RedisError.isAuthenticationError(message) || message.contains("password") {
        throw RedisError.authenticationFailed(endpoint: endpoint.description, message: message)
      }
      throw RedisError.commandFailed(command: "AUTH", message: message)
    }
  }

  /// Sends `SELECT database`.
  public func select(database: Int, until deadline: Deadline) throws {
    if case .error(let message) = try command(["SELECT", String(database)], until: deadline) {
      if RedisError.isAuthenticationError(message) {
        throw RedisError.authenticationFailed(endpoint: endpoint.description, message: message)
      }
      throw RedisError.commandFailed(command: "SELECT \(database)", message: message)
    }
  }

  // MARK: - hiredis boundary

  private func replyFromReader() throws -> RedisReply? {
    var raw: UnsafeMutableRawPointer?
    guard redisGetReplyFromReader(context, &raw) == REDIS_OK else { throw fault() }
    guard let raw else { return nil }
    defer { freeReplyObject(raw) }
    return RedisReplyParser.copy(raw.assumingMemoryBound(to: redisReply.self))
  }

  private func fault() -> RedisError {
    let reason: String
    switch context.pointee.err {
    case REDIS_ERR_EOF: reason = "server closed the connection"
    case REDIS_ERR_PROTOCOL: reason = "protocol error: " + Self.errorText(of: context)
    default: reason = Self.errorText(of: context)
    }
    return .connectionLost(endpoint: endpoint.description, reason: reason)
  }

  private static func errorText(of context: UnsafeMutablePointer<redisContext>) -> String {
    var text = withUnsafeBytes(of: context.pointee.errstr) { raw in
      String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self)
    }
    if text.isEmpty { text = "error \(context.pointee.err)" }
    return text.prefix(1).lowercased() + text.dropFirst()
  }

  /// Ignoring SIGPIPE turns a write to a dead peer into an EPIPE error instead
  /// of killing the process; done once, before the first connection.
  private static let ignoreSIGPIPE: Void = {
    _ = signal(SIGPIPE, SIG_IGN)
  }()
}

/// Parses raw RESP bytes with hiredis's reader: the same parser the
/// connections use, usable without a server.
public final class RedisReplyParser {
  private let reader: UnsafeMutablePointer<redisReader>

  /// Creates an empty parser (`redisReaderCreate`).
  public init() {
    reader = redisReaderCreate()
  }

  deinit {
    redisReaderFree(reader)
  }

  /// Appends bytes received from a server (`redisReaderFeed`).
  public func feed(_ bytes: [UInt8]) {
    bytes.withUnsafeBufferPointer { buffer in
      buffer.withMemoryRebound(to: CChar.self) { chars in
        _ = redisReaderFeed(reader, chars.baseAddress, chars.count)
      }
    }
  }

  /// The next complete reply, or `nil` while more bytes are needed.
  /// - Throws: ``RedisError/connectionLost(endpoint:reason:)`` on malformed input.
  public func next() throws -> RedisReply? {
    var raw: UnsafeMutableRawPointer?
    guard redisReaderGetReply(reader, &raw) == REDIS_OK else {
      let text = withUnsafeBytes(of: reader.pointee.errstr) { raw in
        String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self)
      }
      throw RedisError.connectionLost(endpoint: "reader", reason: "protocol error: " + text)
    }
    guard let raw else { return nil }
    defer { freeReplyObject(raw) }
    return Self.copy(raw.assumingMemoryBound(to: redisReply.self))
  }

  /// Copies a hiredis reply tree into Swift values.
  static func copy(_ reply: UnsafeMutablePointer<redisReply>) -> RedisReply {
    let value = reply.pointee
    switch value.type {
    case REDIS_REPLY_STRING:
      return .bulk(bytes(value.str, value.len))
    case REDIS_REPLY_STATUS:
      return .status(String(decoding: bytes(value.str, value.len), as: UTF8.self))
    case REDIS_REPLY_ERROR:
      return .error(String(decoding: bytes(value.str, value.len), as: UTF8.self))
    case REDIS_REPLY_INTEGER:
      return .integer(value.integer)
    case REDIS_REPLY_ARRAY:
      var elements = [RedisReply]()
      elements.reserveCapacity(value.elements)
      for index in 0..<value.elements {
        if let element = value.element[index] { elements.append(copy(element)) }
      }
      return .array(elements)
    default:
      return .null
    }
  }

  private static func bytes(_ pointer: UnsafeMutablePointer<CChar>?, _ count: Int) -> [UInt8] {
    guard let pointer, count > 0 else { return [] }
    return [UInt8](UnsafeRawBufferPointer(start: pointer, count: count))
  }
}
