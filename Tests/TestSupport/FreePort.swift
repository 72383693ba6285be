import Foundation

/// Finds a free TCP port on the loopback interface.
public enum FreePort {
  /// Asks the kernel for a free port by binding port 0, then releases it.
  public static func pick() throws -> Int {
    let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard descriptor >= 0 else { throw TestSupportError("socket() failed") }
    defer { close(descriptor) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_port = 0
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    let bound = withUnsafeMutablePointer(to: &address) { pointer in
      pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { socketAddress in
        bind(descriptor, socketAddress, length) == 0 && getsockname(descriptor, socketAddress, &length) == 0
      }
    }
    guard bound else { throw TestSupportError("bind() to a free loopback port failed") }
    let port = Int(UInt16(bigEndian: address.sin_port))
    guard port != 6379 else { return try pick() }
    return port
  }
}
