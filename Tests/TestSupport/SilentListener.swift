import Foundation

/// A loopback port that never answers, for waits that only a cancellation
/// (or a timeout) ends.
///
/// - ``Kind/unansweredConnect``: the listen queue is full (backlog 0, one
///   connection queued and never accepted), so the kernel drops every
///   further SYN and a connect stays in SYN-SENT, as with a host that is down.
/// - ``Kind/acceptedButSilent``: connects complete (the kernel queues them),
///   but nothing is ever accepted, read or written: a TLS handshake or a
///   command waits for its first byte.
public final class SilentListener: @unchecked Sendable {
  /// What a client that connects meets.
  public enum Kind: Sendable {
    /// The connect itself is never answered.
    case unansweredConnect
    /// The connect completes; nothing is ever said.
    case acceptedButSilent
  }

  /// The port clients connect to.
  public let port: Int
  private let listener: Int32
  private var filler: Int32 = -1

  /// Listens on a free loopback port.
  public init(_ kind: Kind) throws {
    let listener = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    self.listener = listener
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    let backlog: Int32 = kind == .unansweredConnect ? 0 : 128
    let bound = withUnsafeMutablePointer(to: &address) { pointer in
      pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
        bind(listener, $0, length) == 0 && getsockname(listener, $0, &length) == 0
      }
    }
    guard bound, listen(listener, backlog) == 0 else {
      close(listener)
      throw TestSupportError("cannot listen on a free loopback port")
    }
    port = Int(UInt16(bigEndian: address.sin_port))
    guard kind == .unansweredConnect else { return }
    // With backlog 0 one queued connection fills the queue.
    let filler = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    self.filler = filler
    let connected = withUnsafePointer(to: &address) { pointer in
      pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
        connect(filler, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0
      }
    }
    guard connected else {
      close(filler)
      close(listener)
      throw TestSupportError("cannot fill the listen queue of port \(port)")
    }
  }

  deinit {
    if filler >= 0 { close(filler) }
    close(listener)
  }

  /// How many client sockets are connecting to the port and not answered
  /// (SYN-SENT in `/proc/net/tcp`).
  public func unansweredConnects() throws -> Int {
    try clientSockets(inState: "02")
  }

  /// How many client sockets are connected to the port (ESTABLISHED in
  /// `/proc/net/tcp`; the filler of ``Kind/unansweredConnect`` counts).
  public func establishedConnections() throws -> Int {
    try clientSockets(inState: "01")
  }

  /// Client-side sockets whose remote port is this one, in TCP state `state`
  /// (the kernel's hex code).
  private func clientSockets(inState state: String) throws -> Int {
    // Read to the end: /proc reports a size of 0, and a sized read stops early.
    guard let file = FileHandle(forReadingAtPath: "/proc/net/tcp") else {
      throw TestSupportError("cannot read /proc/net/tcp")
    }
    defer { try? file.close() }
    let table = String(decoding: try file.readToEnd() ?? Data(), as: UTF8.self)
    let hex = String(port, radix: 16, uppercase: true)
    let remote = "0100007F:" + String(repeating: "0", count: max(0, 4 - hex.count)) + hex
    return table.split(separator: "\n").dropFirst().filter { line in
      let fields = line.split(separator: " ")
      return fields.count > 3 && fields[2] == remote && fields[3] == state
    }.count
  }
}
