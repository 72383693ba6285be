@preconcurrency import CHiredis
import Glibc

/// One connection to Redis, and the only type that calls hiredis.
///
/// hiredis makes the connection (name resolution, keepalive, unix sockets)
/// and owns the socket; the connect is non-blocking, so every wait, the
/// connect's included, is a `poll()` with a deadline.
/// `redisSetTimeout` is never used: a hiredis context whose read timed out is
/// dead for good.
///
/// Bytes then move through one `Transport`: the socket itself, or TLS over
/// it for a `rediss://` backend, so plain TCP, unix sockets and TLS share every
/// other line of this type. Commands are formatted as RESP (`RedisCommand`),
/// queued in an output buffer, written by ``flush(until:)``, and their replies
/// read in order with ``nextReply(until:)``, so many commands can be
/// pipelined in one round trip. hiredis's reader parses the replies from the
/// bytes the transport read (`HiredisReader`). A connection that failed once
/// fails every later call the same way.
///
/// Not `Sendable`: a connection belongs to one thread at a time.
package final class RedisConnection {
  /// The server this connection talks to.
  package let endpoint: RedisEndpoint
  /// Owns the socket; `redisFree` closes it.
  private let context: UnsafeMutablePointer<redisContext>
  private let transport: any Transport
  /// Used for every reply, as ``failure`` is checked: both are exempt from
  /// the dynamic exclusivity check (~150 instructions a message at S4,
  /// callgrind). No access to them can overlap another: the connection
  /// belongs to one thread, and no method calls out of the connection
  /// while it holds either (hiredis's callbacks reach the reader's builder
  /// through its own pointer, never through `self`).
  @exclusivity(unchecked) private var reader = HiredisReader()

  /// Whether pub/sub messages are read as ``RedisReply/message(channel:payload:)``
  /// (see `HiredisReader.readsPubSubMessages`): set on a connection that
  /// subscribes, never on one whose replies may be arrays that look like a
  /// message (an MGET of three keys whose first value is `message`).
  package var readsPubSubMessages: Bool {
    get { reader.readsPubSubMessages }
    set { reader.readsPubSubMessages = newValue }
  }
  /// How the channels of messages read as one are keyed (see
  /// `HiredisReader.channelKeying`); `nil` keeps every channel's bytes.
  package var channelKeying: ChannelKeying? {
    get { reader.channelKeying }
    set { reader.channelKeying = newValue }
  }
  /// Commands queued and not yet written, from ``outputStart`` on.
  private var output: [UInt8] = []
  private var outputStart = 0
  /// The events a read that would block waits for (TLS may need to write).
  private var readEvents = Int16(POLLIN)
  /// The fault that broke the connection; every later call throws it again.
  @exclusivity(unchecked) private var failure: RedisError?
  /// Whether the server has sent anything yet (a plain connection to a TLS
  /// port is closed before it has).
  private var hasReceived = false
  /// Ends every wait of this connection when cancelled (a watch's engine).
  private let wakeup: EngineWakeup?
  /// How long ``replies(count:until:operation:)`` keeps reading before it
  /// sleeps in `poll()`. A reply to a command just sent usually arrives within
  /// tens of microseconds on a local link, while a wake-up from `poll()` costs
  /// a millisecond or two on an idle virtual machine.
  static let replySpin: UInt64 = 300_000
  /// An output buffer larger than this is released once written, rather than
  /// kept for the next command (a 100,000-channel SUBSCRIBE is megabytes).
  static let retainedOutputCapacity = 1 << 16

  /// Connects to `endpoint`, waiting at most `connectTimeout` seconds, and
  /// runs the TLS handshake within that time when `tls` is given.
  ///
  /// Wraps `redisConnectNonBlock` / `redisConnectUnixNonBlock`, then waits
  /// for the connect in `poll()` (`ConnectWait`). TCP
  /// connections get keepalive (`redisEnableKeepAlive`); unix sockets do not,
  /// since it fails there and poisons the context.
  /// - Throws: ``RedisError/connectFailed(endpoint:reason:)``, or
  ///   ``RedisError/insecure(endpoint:reason:)`` when TLS cannot be set up.
  ///   With a `wakeup`, every wait of the connection (the connect and the
  ///   TLS handshake included) also ends, with ``WakeupError/cancelled``,
  ///   once it is cancelled.
  package init(
    endpoint: RedisEndpoint, tls: TLSClientContext? = nil, connectTimeout: Double, wakeup: EngineWakeup? = nil
  ) throws {
    Self.ignoreSIGPIPE
    self.endpoint = endpoint
    self.wakeup = wakeup
    let deadline = Deadline.after(seconds: connectTimeout)
    let connected: UnsafeMutablePointer<redisContext>?
    switch endpoint {
    case .tcp(let host, let port):
      connected = redisConnectNonBlock(host, Int32(port))
    case .unix(let path):
      connected = redisConnectUnixNonBlock(path)
    }
    guard let connected else {
      throw RedisError.connectFailed(endpoint: endpoint.description, reason: "out of memory")
    }
    if connected.pointee.err != 0 {
      let reason = Self.errorText(of: connected)
      redisFree(connected)
      throw RedisError.connectFailed(endpoint: endpoint.description, reason: reason)
    }
    if case .tcp = endpoint, redisEnableKeepAlive(connected) != REDIS_OK {
      let reason = Self.errorText(of: connected)
      redisFree(connected)
      throw RedisError.connectFailed(endpoint: endpoint.description, reason: reason)
    }
    let fd = connected.pointee.fd
    _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
    connected.pointee.flags &= ~Int32(REDIS_BLOCK)
    do {
      try ConnectWait.finish(socket: fd, endpoint: endpoint.description, until: deadline, wakeup: wakeup)
      transport = try Self.transport(
        on: fd, to: endpoint, tls: tls, until: deadline, wakeup: wakeup)
    } catch {
      redisFree(connected)
      throw error
    }
    context = connected
  }

  /// The plain socket, or TLS after its handshake.
  private static func transport(
    on socket: Int32, to endpoint: RedisEndpoint, tls: TLSClientContext?, until deadline: Deadline,
    wakeup: EngineWakeup?
  ) throws -> any Transport {
    guard let tls else { return SocketTransport(fileDescriptor: socket) }
    let host: String
    switch endpoint {
    case .tcp(let name, _): host = name
    case .unix: host = "localhost"
    }
    return try TLSTransport(
      socket: socket, host: host, context: tls, endpoint: endpoint.description, until: deadline, wakeup: wakeup)
  }

  deinit {
    redisFree(context)
  }

  // MARK: - Writing

  /// Queues one command; nothing is sent until ``flush(until:)``.
  package func append(_ arguments: [[UInt8]]) {
    var command = RedisCommand(argumentCount: arguments.count)
    for argument in arguments { command.append(argument) }
    append(command)
  }

  /// Queues one command given as text arguments.
  package func append(_ arguments: [String]) {
    var command = RedisCommand(argumentCount: arguments.count)
    for argument in arguments { command.append(argument) }
    append(command)
  }

  /// Queues a command built with ``RedisCommand``.
  package func append(_ command: RedisCommand) {
    precondition(command.isComplete, "fewer arguments than announced")
    output.append(contentsOf: command.bytes)
  }

  /// Writes every queued command, waiting for the socket at most until `deadline`.
  ///
  /// While the socket is not writable, whatever the server already sent is read
  /// into the reply buffer, so a long pipeline never stalls on a full receive
  /// window.
  /// - Throws: ``RedisError/connectionLost(endpoint:reason:)`` or ``RedisError/timedOut(endpoint:operation:)``.
  package func flush(until deadline: Deadline) throws {
    if let failure { throw failure }
    while outputStart < output.count {
      let result = output.withUnsafeBytes { bytes in
        transport.write(UnsafeRawBufferPointer(rebasing: bytes[outputStart...]))
      }
      switch result {
      case .transferred(let count):
        outputStart += count
      case .wouldBlock(let events):
        switch SystemCall.poll(transport.fileDescriptor, for: events | Int16(POLLIN), until: deadline, wakeup: wakeup) {
        case .ready(let revents):
          if revents & Int16(POLLIN) != 0 { _ = try readAvailable() }
        case .woken:
          throw WakeupError.cancelled
        case .timedOut, .interrupted:
          if deadline.hasPassed { throw RedisError.timedOut(endpoint: endpoint.description, operation: "a write") }
        case .failed(let error):
          throw fail(.failed(reason: "poll: \(error)"))
        }
      default:
        throw fail(result)
      }
    }
    if output.capacity > Self.retainedOutputCapacity {
      output = []
    } else {
      output.removeAll(keepingCapacity: true)
    }
    outputStart = 0
  }

  // MARK: - Reading

  /// Returns the next reply, waiting at most until `deadline`.
  ///
  /// Returns `nil` when the deadline passes first, or when a signal interrupts
  /// the wait (so the caller can look at why). A deadline already passed still
  /// looks once at what the socket holds.
  /// - Throws: ``RedisError/connectionLost(endpoint:reason:)`` when the link breaks.
  package func nextReply(until deadline: Deadline) throws -> RedisReply? {
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
      if transport.hasBufferedInput, try readAvailable() {
        if let reply = try parsedReply() { return reply }
        continue
      }
      switch SystemCall.poll(
        transport.fileDescriptor, for: readEvents, until: deadline, interruptible: true, wakeup: wakeup)
      {
      case .woken:
        throw WakeupError.cancelled
      case .timedOut, .interrupted:
        return nil
      case .failed(let error):
        throw fail(.failed(reason: "poll: \(error)"))
      case .ready:
        if try readAvailable(), let reply = try parsedReply() { return reply }
        if deadline.hasPassed { return nil }
      }
    }
  }

  /// Returns a reply that can be had without waiting: one already parsed, or
  /// one completed by whatever the socket holds right now.
  package func bufferedReply() throws -> RedisReply? {
    if let reply = try parsedReply() { return reply }
    while try readAvailable() {
      if let reply = try parsedReply() { return reply }
      if !transport.hasBufferedInput { return nil }
    }
    return nil
  }

  /// Whether input is waiting: bytes already read and not yet returned as
  /// replies, or bytes on the socket (`poll()` without waiting).
  package func hasPendingInput() -> Bool {
    reader.bufferedByteCount > 0 || transport.hasBufferedInput || SystemCall.isReadable(transport.fileDescriptor)
  }

  /// Reads exactly `count` replies in order, all before `deadline`.
  ///
  /// The replies are due (their commands were just sent), so the wait spins
  /// for up to `replySpin` before it sleeps.
  /// - Throws: ``RedisError/timedOut(endpoint:operation:)`` if they do not all arrive.
  package func replies(count: Int, until deadline: Deadline, operation: String) throws -> [RedisReply] {
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
  package func command(_ arguments: [String], until deadline: Deadline) throws -> RedisReply {
    append(arguments)
    try flush(until: deadline)
    return try replies(count: 1, until: deadline, operation: arguments.first ?? "a command")[0]
  }

  /// Sends `AUTH [username] password`.
  /// - Throws: ``RedisError/authenticationFailed(endpoint:message:)`` when refused.
  package func authenticate(username: String?, password: String, until deadline: Deadline) throws {
    let arguments = ["AUTH"] + (username.map { [$0] } ?? []) + [password]
    if case .error(let message) = try command(arguments, until: deadline) {
      if RedisError.isAuthenticationError(message) || message.contains("password") {
        throw RedisError.authenticationFailed(endpoint: endpoint.description, message: message)
      }
      throw RedisError.commandFailed(command: "AUTH", message: message)
    }
  }

  /// Sends `SELECT database`.
  package func select(database: Int, until deadline: Deadline) throws {
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
    if let failure { throw failure }
    do {
      return try reader.next()
    } catch {
      failure = .connectionLost(endpoint: endpoint.description, reason: "protocol error: " + error.message)
      throw failure!
    }
  }

  /// Reads what the transport holds into the reader without waiting; returns
  /// whether anything was read.
  private func readAvailable() throws -> Bool {
    if let failure { throw failure }
    let result = transport.read(into: reader.writableSpace())
    switch result {
    case .transferred(let count):
      reader.didWrite(count)
      hasReceived = true
      return true
    case .wouldBlock(let events):
      readEvents = events
      return false
    default:
      throw fail(result)
    }
  }

  /// Records the fault a read or write ended with, so every later call
  /// throws it too, and returns it.
  private func fail(_ result: TransportResult) -> RedisError {
    if !hasReceived, let reason = transport.refusalBeforeFirstReply {
      failure = .insecure(endpoint: endpoint.description, reason: reason)
      return failure!
    }
    switch result {
    case .refused(let reason):
      failure = .insecure(endpoint: endpoint.description, reason: reason)
    case .failed(let reason):
      failure = .connectionLost(endpoint: endpoint.description, reason: reason + plainToTLSHint)
    case .closed, .transferred, .wouldBlock:
      failure = .connectionLost(
        endpoint: endpoint.description, reason: "server closed the connection" + plainToTLSHint)
    }
    return failure!
  }

  /// A TLS port closes a plain connection at its first command, before
  /// answering anything: say so when that is what happened.
  private var plainToTLSHint: String {
    guard !hasReceived, transport is SocketTransport, case .tcp = endpoint else { return "" }
    return " before answering (if this is a TLS port, use rediss://)"
  }

  // MARK: - hiredis boundary

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
