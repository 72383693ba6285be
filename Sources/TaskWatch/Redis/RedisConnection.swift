@preconcurrency import CHiredis
import Glibc

/// One connection to Redis, and the only type that calls hiredis.
///
/// hiredis connects (with its timeout, keepalive and unix-socket handling) and
/// writes; the context is switched to non-blocking mode right after
/// connecting, so every wait is a `poll()` with a deadline. `redisSetTimeout`
/// is never used: a hiredis context whose read timed out is dead for good.
///
/// Commands are formatted as RESP here and queued in hiredis's output buffer
/// (`redisAppendFormattedCommand`, binary-safe, copied by hiredis), written by
/// ``flush(until:)``, and their replies read in order with
/// ``nextReply(until:)``, so many commands can be pipelined in one round trip.
/// Replies are read with `read(2)` into a ``RESPParser`` rather than hiredis's
/// reader (see there why); like a hiredis context, a connection that failed
/// once fails every later call the same way.
///
/// Not `Sendable`: a connection belongs to one thread at a time.
public final class RedisConnection {
  /// The server this connection talks to.
  public let endpoint: RedisEndpoint
  private let context: UnsafeMutablePointer<redisContext>
  private var parser = RESPParser()
  /// The fault that broke the read side; every later call throws it again.
  private var readFailure: RedisError?
  /// How long ``replies(count:until:operation:)`` keeps reading before it
  /// sleeps in `poll()`. A reply to a command just sent usually arrives within
  /// tens of microseconds on a local link, while a wake-up from `poll()` costs
  /// a millisecond or two on an idle virtual machine.
  static let replySpin: UInt64 = 300_000

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
  public func append(_ arguments: [[UInt8]]) {
    var command = RedisCommand(argumentCount: arguments.count)
    for argument in arguments { command.append(argument) }
    append(command)
  }

  /// Queues one command given as text arguments.
  public func append(_ arguments: [String]) {
    var command = RedisCommand(argumentCount: arguments.count)
    for argument in arguments { command.append(argument) }
    append(command)
  }

  /// Queues a command built with ``RedisCommand`` (`redisAppendFormattedCommand`).
  func append(_ command: RedisCommand) {
    precondition(command.isComplete, "fewer arguments than announced")
    command.bytes.withUnsafeBufferPointer { buffer in
      buffer.withMemoryRebound(to: CChar.self) { chars in
        _ = redisAppendFormattedCommand(context, chars.baseAddress, chars.count)
      }
    }
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
        _ = try readAvailable()
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
    try nextReply(until: deadline, spinningFor: 0)
  }

  /// ``nextReply(until:)`` that first keeps reading for up to `spin`
  /// nanoseconds without sleeping, for a reply that is due any moment.
  private func nextReply(until deadline: Deadline, spinningFor spin: UInt64) throws -> RedisReply? {
    if let reply = try bufferedReply() { return reply }
    if spin > 0 {
      let spinEnd = Deadline.now.nanoseconds + spin
      while Deadline.now.nanoseconds < min(spinEnd, deadline.nanoseconds) {
        if try readAvailable(), let reply = try parsedReply() { return reply }
        // Let the server run if the scheduler put it on this CPU.
        sched_yield()
      }
    }
    while true {
      var descriptor = pollfd(fd: context.pointee.fd, events: Int16(POLLIN), revents: 0)
      let ready = poll(&descriptor, 1, deadline.remainingPollMilliseconds)
      if ready < 0 && errno == EINTR { return nil }
      if ready == 0 { return nil }
      if try readAvailable(), let reply = try parsedReply() { return reply }
      if deadline.hasPassed { return nil }
    }
  }

  /// Returns a reply that can be had without waiting: one already parsed, or
  /// one completed by whatever the socket holds right now.
  public func bufferedReply() throws -> RedisReply? {
    if let reply = try parsedReply() { return reply }
    guard try readAvailable() else { return nil }
    return try parsedReply()
  }

  /// Whether input is waiting: bytes already read and not yet returned as
  /// replies, or bytes on the socket (`poll()` without waiting).
  func hasPendingInput() -> Bool {
    if parser.bufferedByteCount > 0 { return true }
    var descriptor = pollfd(fd: context.pointee.fd, events: Int16(POLLIN), revents: 0)
    return poll(&descriptor, 1, 0) > 0
  }

  /// Reads exactly `count` replies in order, all before `deadline`.
  ///
  /// The replies are due (their commands were just sent), so the wait spins
  /// for up to ``replySpin`` before it sleeps.
  /// - Throws: ``RedisError/timedOut(endpoint:operation:)`` if they do not all arrive.
  public func replies(count: Int, until deadline: Deadline, operation: String) throws -> [RedisReply] {
    var replies = [RedisReply]()
    replies.reserveCapacity(count)
    while replies.count < count {
      guard let reply = try nextReply(until: deadline, spinningFor: Self.replySpin) else {
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

  // MARK: - Reading

  /// The next reply among the bytes already read.
  private func parsedReply() throws -> RedisReply? {
    if let readFailure { throw readFailure }
    do {
      return try parser.next()
    } catch {
      readFailure = .connectionLost(endpoint: endpoint.description, reason: "protocol error: " + error.message)
      throw readFailure!
    }
  }

  /// Reads what the socket holds into the parser without waiting; returns
  /// whether anything was read.
  private func readAvailable() throws -> Bool {
    if let readFailure { throw readFailure }
    let space = parser.writableSpace()
    while true {
      let count = read(context.pointee.fd, space.baseAddress, space.count)
      if count > 0 {
        parser.didWrite(count)
        return true
      }
      if count < 0 && errno == EINTR { continue }
      if count < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) { return false }
      let reason = count == 0 ? "server closed the connection" : Self.describe(errno: errno)
      readFailure = .connectionLost(endpoint: endpoint.description, reason: reason)
      throw readFailure!
    }
  }

  // MARK: - hiredis boundary

  private func fault() -> RedisError {
    let reason: String
    switch context.pointee.err {
    case REDIS_ERR_EOF: reason = "server closed the connection"
    case REDIS_ERR_PROTOCOL: reason = "protocol error: " + Self.errorText(of: context)
    default: reason = Self.errorText(of: context)
    }
    return .connectionLost(endpoint: endpoint.description, reason: reason)
  }

  /// `strerror` as hiredis words an IO error, starting in lower case.
  private static func describe(errno code: Int32) -> String {
    let text = String(cString: strerror(code))
    return text.prefix(1).lowercased() + text.dropFirst()
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

/// Parses raw RESP bytes with the same parser the connections use
/// (``RESPParser``), usable without a server.
public final class RedisReplyParser {
  private var parser = RESPParser()

  /// Creates an empty parser.
  public init() {}

  /// Appends bytes received from a server.
  public func feed(_ bytes: [UInt8]) {
    bytes.withUnsafeBytes { parser.feed($0) }
  }

  /// The next complete reply, or `nil` while more bytes are needed.
  /// - Throws: ``RedisError/connectionLost(endpoint:reason:)`` on malformed input.
  public func next() throws -> RedisReply? {
    do {
      return try parser.next()
    } catch {
      throw RedisError.connectionLost(endpoint: "reader", reason: "protocol error: " + error.message)
    }
  }
}

/// A command formatted as RESP as its arguments are added, so a batch of a
/// thousand keys costs no intermediate strings or arrays. The argument count
/// is given up front, as RESP puts it first.
struct RedisCommand {
  private(set) var bytes: [UInt8] = []
  private let argumentCount: Int
  private var added = 0

  /// Whether every announced argument was added.
  var isComplete: Bool { added == argumentCount }

  /// Starts a command of `argumentCount` arguments (the command name included).
  init(argumentCount: Int, reservingCapacity capacity: Int = 64) {
    self.argumentCount = argumentCount
    bytes.reserveCapacity(capacity)
    bytes.append(UInt8(ascii: "*"))
    Self.appendDecimal(argumentCount, to: &bytes)
    appendLineEnd()
  }

  /// Adds one argument.
  mutating func append(_ argument: some Collection<UInt8>) {
    appendHeader(length: argument.count)
    bytes.append(contentsOf: argument)
    appendLineEnd()
  }

  /// Adds one text argument.
  mutating func append(_ argument: String) {
    append(argument.utf8)
  }

  /// Adds one argument made of `prefix` followed by `suffix`, e.g. a key.
  mutating func append(_ prefix: [UInt8], _ suffix: String) {
    let copied: Void? = suffix.utf8.withContiguousStorageIfAvailable { suffix in
      appendHeader(length: prefix.count + suffix.count)
      bytes.append(contentsOf: prefix)
      bytes.append(contentsOf: suffix)
    }
    if copied == nil {
      appendHeader(length: prefix.count + suffix.utf8.count)
      bytes.append(contentsOf: prefix)
      bytes.append(contentsOf: suffix.utf8)
    }
    appendLineEnd()
  }

  private mutating func appendHeader(length: Int) {
    precondition(added < argumentCount, "more arguments than announced")
    added += 1
    bytes.append(UInt8(ascii: "$"))
    Self.appendDecimal(length, to: &bytes)
    appendLineEnd()
  }

  private mutating func appendLineEnd() {
    bytes.append(0x0D)
    bytes.append(0x0A)
  }

  private static func appendDecimal(_ value: Int, to bytes: inout [UInt8]) {
    var divisor = 1
    while divisor <= value / 10 { divisor *= 10 }
    var remaining = value
    repeat {
      bytes.append(UInt8(ascii: "0") + UInt8(remaining / divisor))
      remaining %= divisor
      divisor /= 10
    } while divisor > 0
  }
}
