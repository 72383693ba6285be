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
  private var stopped = false

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
      lock.withLock { connections.append((client, upstream)) }
      Thread.detachNewThread { [self] in pump(client, upstream) }
    }
  }

  /// Copies bytes both ways until either side closes; in blackhole mode the
  /// bytes are read and dropped.
  private func pump(_ client: Int32, _ upstream: Int32) {
    defer {
      close(client)
      close(upstream)
    }
    var descriptors = [
      pollfd(fd: client, events: Int16(POLLIN), revents: 0),
      pollfd(fd: upstream, events: Int16(POLLIN), revents: 0),
    ]
    var buffer = [UInt8](repeating: 0, count: 65536)
    while true {
      let ready = poll(&descriptors, 2, 100)
      if ready < 0 && errno != EINTR { return }
      if ready <= 0 { continue }
      for (index, descriptor) in descriptors.enumerated() where descriptor.revents != 0 {
        let count = buffer.withUnsafeMutableBytes { read(descriptor.fd, $0.baseAddress, $0.count) }
        if count <= 0 { return }
        let target = index == 0 ? upstream : client
        if lock.withLock({ mode }) == .blackhole { continue }
        var offset = 0
        while offset < count {
          let written = buffer.withUnsafeBytes { write(target, $0.baseAddress! + offset, count - offset) }
          if written <= 0 { return }
          offset += written
        }
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
