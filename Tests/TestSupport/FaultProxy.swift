import Foundation

/// A loopback TCP proxy in front of a redis-server that can fail on demand:
/// refuse new connections, cut every open one, or blackhole them (accept and
/// silently drop every byte), and then resume.
public final class FaultProxy: @unchecked Sendable {
  /// What the proxy does with traffic.
  public enum Mode: Sendable {
    /// Forward both ways.
    case forward
    /// Refuse new connections (nothing listens) and cut open ones.
    case refuse
    /// Accept, but drop every byte both ways, without closing anything.
    case blackhole
  }

  /// The port clients connect to.
  public let port: Int
  private let upstreamPort: Int
  private let lock = NSLock()
  private var mode = Mode.forward
  private var listener: Int32 = -1
  private var connections: [(client: Int32, upstream: Int32)] = []
  /// How many connections were accepted so far (the next one's ordinal).
  private var accepted = 0
  /// Ordinals of connections whose server-to-client bytes are held back.
  private var pausedReplies = Set<Int>()
  /// Per connection ordinal: how many server-to-client bytes it forwards
  /// before it falls silent.
  private var replyLimits: [Int: Int] = [:]
  private var stopped = false

  /// How many connections the proxy accepted so far; the next one gets this
  /// ordinal (see ``pauseReplies(toConnection:)``).
  public var acceptedCount: Int { lock.withLock { accepted } }

  /// The URL of database `database` through the proxy.
  public func url(database: Int = 0) -> String { "redis://127.0.0.1:\(port)/\(database)" }

  /// Starts a proxy on a free loopback port in front of `upstreamPort`.
  public init(upstreamPort: Int) throws {
    self.upstreamPort = upstreamPort
    port = try FreePort.pick()
    try listen()
  }

  deinit {
    lock.withLock { stopped = true }
    setMode(.refuse)
  }

  /// Switches mode. `refuse` closes the listener and every open connection;
  /// `blackhole` keeps them open but drops their bytes; `forward` resumes.
  public func setMode(_ newMode: Mode) {
    let (toClose, listening): ([Int32], Int32) = lock.withLock {
      mode = newMode
      guard newMode == .refuse else { return ([], -1) }
      let all = connections.flatMap { [$0.client, $0.upstream] }
      connections.removeAll()
      let oldListener = listener
      listener = -1
      return (all, oldListener)
    }
    for descriptor in toClose {
      shutdown(descriptor, Int32(SHUT_RDWR))
    }
    if listening >= 0 {
      shutdown(listening, Int32(SHUT_RDWR))
      close(listening)
    }
    if newMode != .refuse && lock.withLock({ listener < 0 && !stopped }) { try? listen() }
  }

  /// Holds back what the server sends on the connection accepted
  /// `ordinal`-th (0 for the first), without dropping it: the bytes wait in
  /// the socket buffers until ``resumeReplies(toConnection:)``. What the
  /// client sends still reaches the server. ``ResultConsumer`` connects its
  /// subscriber first, so ordinal 0 is the subscriber of the first connect.
  public func pauseReplies(toConnection ordinal: Int) {
    lock.withLock { _ = pausedReplies.insert(ordinal) }
  }

  /// Forwards what the server sends on connection `ordinal` again, the held
  /// bytes first.
  public func resumeReplies(toConnection ordinal: Int) {
    lock.withLock { _ = pausedReplies.remove(ordinal) }
  }

  /// Silences connection `ordinal` (one accepted after this call) right after the
  /// server's first `bytes` bytes on it reached the client: what the server
  /// sends later is dropped, while the connection stays open and the
  /// client's commands still reach the server, so the client reads exactly
  /// those bytes and then waits until its own timeout. Deterministic where
  /// a cut races with the client: a client that writes its next command
  /// into a closed connection fails before it reads the replies it was
  /// sent, and a `CLIENT KILL` races with the replies. The size of a known
  /// reply (an MGET of known values) ends a stream between two replies.
  public func silenceReplies(toConnection ordinal: Int, afterBytes bytes: Int) {
    lock.withLock { replyLimits[ordinal] = bytes }
  }

  /// Closes every open connection (both sides), keeping the listener.
  public func cutAll() {
    let all: [Int32] = lock.withLock {
      defer { connections.removeAll() }
      return connections.flatMap { [$0.client, $0.upstream] }
    }
    for descriptor in all { shutdown(descriptor, Int32(SHUT_RDWR)) }
  }

  private func listen() throws {
    let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    var one: Int32 = 1
    setsockopt(descriptor, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
    var address = Self.loopback(port: port)
    let bound = withUnsafePointer(to: &address) {
      $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
        bind(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0
      }
    }
    guard bound, Glibc.listen(descriptor, 128) == 0 else {
      close(descriptor)
      throw TestSupportError("proxy cannot listen on \(port)")
    }
    lock.withLock { listener = descriptor }
    Thread.detachNewThread { [self] in acceptLoop(descriptor) }
  }

  private func acceptLoop(_ descriptor: Int32) {
    while true {
      let client = accept(descriptor, nil, nil)
      guard client >= 0 else { return }
      let upstream = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
      var address = Self.loopback(port: upstreamPort)
      let connected = withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
          connect(upstream, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0
        }
      }
      guard connected else {
        close(client)
        close(upstream)
        continue
      }
      let ordinal = lock.withLock {
        connections.append((client, upstream))
        defer { accepted += 1 }
        return accepted
      }
      Thread.detachNewThread { [self] in pump(client, upstream, ordinal: ordinal) }
    }
  }

  /// Copies bytes both ways until either side closes; in blackhole mode the
  /// bytes are read and dropped; while the connection's replies are paused
  /// the server's side is not read.
  private func pump(_ client: Int32, _ upstream: Int32, ordinal: Int) {
    defer {
      // Out of the list first: a later cut must not shut down a descriptor
      // number the system has handed to another connection since.
      lock.withLock { connections.removeAll { $0.client == client } }
      close(client)
      close(upstream)
    }
    var descriptors = [
      pollfd(fd: client, events: Int16(POLLIN), revents: 0),
      pollfd(fd: upstream, events: Int16(POLLIN), revents: 0),
    ]
    var buffer = [UInt8](repeating: 0, count: 65536)
    var forwarded = 0  // server-to-client bytes written so far
    let limit = lock.withLock { replyLimits.removeValue(forKey: ordinal) }
    while true {
      let paused = lock.withLock { pausedReplies.contains(ordinal) }
      descriptors[1].events = paused ? 0 : Int16(POLLIN)
      descriptors[1].revents = 0
      descriptors[0].revents = 0
      let ready = poll(&descriptors, 2, paused ? 10 : 100)
      if ready < 0 && errno != EINTR { return }
      if ready <= 0 { continue }
      for (index, descriptor) in descriptors.enumerated() where descriptor.revents != 0 {
        if index == 1 && paused { continue }
        var count = buffer.withUnsafeMutableBytes { read(descriptor.fd, $0.baseAddress, $0.count) }
        if count <= 0 { return }
        let target = index == 0 ? upstream : client
        if lock.withLock({ mode }) == .blackhole { continue }
        if index == 1, let limit { count = min(count, limit - forwarded) }
        var offset = 0
        while offset < count {
          let written = buffer.withUnsafeBytes { write(target, $0.baseAddress! + offset, count - offset) }
          if written <= 0 { return }
          offset += written
        }
        if index == 1 { forwarded += count }
      }
    }
  }

  private static func loopback(port: Int) -> sockaddr_in {
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_port = in_port_t(UInt16(port).bigEndian)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    return address
  }
}
