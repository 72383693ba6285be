import Foundation
import TestSupport
import Testing

@testable import CeleryPayload
@testable import RedisWire
@testable import TaskWatch

@Suite("RedisConnection against a real redis-server")
struct RedisConnectionTests {
  let server = SharedRedis.server

  @Test("a refused connection says so in words")
  func refused() throws {
    let port = try FreePort.pick()
    #expect {
      _ = try RedisConnection(endpoint: .tcp(host: "127.0.0.1", port: port), connectTimeout: 1)
    } throws: { error in
      String(describing: error) == "cannot connect to 127.0.0.1:\(port): connection refused"
    }
  }

  @Test("binary-safe arguments round-trip")
  func binarySafe() throws {
    let connection = try server.connection()
    let key = Array("bin-\(UUID().uuidString)".utf8)
    let value: [UInt8] = [0x00, 0xFF, 0x80, 0x0D, 0x0A, 0x24]
    connection.append([Array("SET".utf8), key, value])
    connection.append([Array("GET".utf8), key])
    try connection.flush(until: .after(seconds: 5))
    let replies = try connection.replies(count: 2, until: .after(seconds: 5), operation: "GET")
    #expect(replies == [.status("OK"), .bulk(value)])
  }

  @Test("pipelining 10,000 commands reads 10,000 replies in order")
  func pipelining() throws {
    let connection = try server.connection()
    for index in 0..<10_000 { connection.append(["ECHO", String(index)]) }
    try connection.flush(until: .after(seconds: 10))
    let replies = try connection.replies(count: 10_000, until: .after(seconds: 10), operation: "ECHO")
    #expect(replies.last == .bulk(Array("9999".utf8)))
    #expect(replies[1234] == .bulk(Array("1234".utf8)))
  }

  @Test("a read with a deadline returns nil on time and leaves the connection usable")
  func deadline() throws {
    let connection = try server.connection()
    let started = Date()
    #expect(try connection.nextReply(until: .after(seconds: 0.2)) == nil)
    #expect(Date().timeIntervalSince(started) >= 0.19)
    #expect(try connection.command(["PING"], until: .after(seconds: 2)) == .status("PONG"))
  }

  @Test("a server that goes away is an error, not a crash (SIGPIPE ignored)")
  func deadPeer() throws {
    let own = try RedisServer()
    let connection = try own.connection()
    own.crash()
    #expect(throws: RedisError.self) {
      for _ in 0..<3 { _ = try connection.command(["PING"], until: .after(seconds: 2)) }
    }
  }

  @Test("unix sockets connect (no keepalive there)")
  func unixSocket() throws {
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("tw-sock-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    let path = directory.appendingPathComponent("r.sock").path
    let own = try RedisServer(extraArguments: ["--unixsocket", path])
    let connection = try RedisConnection(endpoint: .unix(path: path), connectTimeout: 2)
    #expect(try connection.command(["PING"], until: .after(seconds: 2)) == .status("PONG"))
    own.stop()
  }

  @Test("AUTH: the right password works, a wrong one is an authentication failure")
  func authentication() throws {
    let own = try RedisServer(extraArguments: ["--requirepass", "s3cret"])
    let good = try RedisConnection(endpoint: own.endpoint, connectTimeout: 2)
    try good.authenticate(username: nil, password: "s3cret", until: .after(seconds: 2))
    let bad = try RedisConnection(endpoint: own.endpoint, connectTimeout: 2)
    #expect {
      try bad.authenticate(username: nil, password: "nope", until: .after(seconds: 2))
    } throws: { error in
      guard case RedisError.authenticationFailed = error else { return false }
      return !(error as! RedisError).isConnectionFault
    }
    let acl = try RedisConnection(endpoint: own.endpoint, connectTimeout: 2)
    try acl.authenticate(username: "default", password: "s3cret", until: .after(seconds: 2))
  }
}

@Suite("RedisServer (the test harness)")
struct RedisServerTests {
  @Test("a port taken between picking and binding: the server starts again on another one")
  func portTaken() throws {
    // A listening socket holds a loopback port, as a racing process would.
    let holder = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    #expect(holder >= 0)
    defer { close(holder) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    let listening = withUnsafeMutablePointer(to: &address) { pointer in
      pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
        bind(holder, $0, length) == 0 && listen(holder, 1) == 0 && getsockname(holder, $0, &length) == 0
      }
    }
    #expect(listening)
    let taken = Int(UInt16(bigEndian: address.sin_port))
    var picked: [Int] = []
    let server = try RedisServer(pickingPortsWith: {
      picked.append(picked.isEmpty ? taken : try FreePort.pick())
      return picked.last!
    })
    #expect(picked.count == 2)
    #expect(picked.first == taken)
    #expect(server.port == picked.last)
    #expect(try server.run(["PING"]) == .status("PONG"))
  }

  @Test("a fixed port that is taken is not replaced: the start fails")
  func fixedPortTaken() throws {
    let holder = try RedisServer()
    #expect(throws: TestSupportError.self) { _ = try RedisServer(port: holder.port) }
  }
}
