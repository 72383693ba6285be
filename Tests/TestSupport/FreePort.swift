import Foundation

/// Finds a free TCP port on the loopback interface.
public enum FreePort {
  /// Ports already handed out in this process. Suites run in parallel, and a
  /// port picked for one server (a TLS port, a sentinel's) stays unbound
  /// until that server starts: the kernel may offer it again meanwhile, so
  /// no port is given twice.
  /// Guarded by ``lock``: an `NSLock` (a pthread mutex), not
  /// Synchronization's `Mutex`, whose futex ThreadSanitizer cannot see, so
  /// two suites picking ports at once were reported as a race.
  nonisolated(unsafe) private static var handedOut = Set<Int>()
  private static let lock = NSLock()

  /// Records `ports` as handed out unless one of them already is.
  private static func claim(_ ports: [Int]) -> Bool {
    lock.withLock {
      guard ports.allSatisfy({ !handedOut.contains($0) }) else { return false }
      handedOut.formUnion(ports)
      return true
    }
  }

  /// Asks the kernel for a free port by binding port 0, then releases it.
  /// Never returns 6379, nor a port it returned before in this process.
  public static func pick() throws -> Int {
    while true {
      let port = try kernelPick()
      if port != 6379, claim([port]) { return port }
    }
  }

  /// A free port for a Redis Cluster node: its cluster bus port (the port
  /// + 10,000) is free too, and neither was handed out before.
  public static func pickForClusterNode() throws -> Int {
    while true {
      let port = try kernelPick()
      guard port != 6379, port + 10_000 <= 65_535, port + 10_000 != 6379, (try? bind(port + 10_000)) != nil
      else { continue }
      if claim([port, port + 10_000]) { return port }
    }
  }

  private static func kernelPick() throws -> Int {
    try bind(0)
  }

  /// Binds `port` (0: any) on the loopback interface, releases it and returns
  /// the port bound.
  private static func bind(_ port: Int) throws -> Int {
    let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard descriptor >= 0 else { throw TestSupportError("socket() failed") }
    defer { close(descriptor) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_port = UInt16(port).bigEndian
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    let bound = withUnsafeMutablePointer(to: &address) { pointer in
      pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { socketAddress in
        Glibc.bind(descriptor, socketAddress, length) == 0 && getsockname(descriptor, socketAddress, &length) == 0
      }
    }
    guard bound else { throw TestSupportError("bind() to a free loopback port failed") }
    return Int(UInt16(bigEndian: address.sin_port))
  }
}
