import Testing

@testable import TaskWatch

@Suite("RESP parsing (no server)")
struct RedisReplyParserTests {
  private func parse(_ chunks: [String]) throws -> [RedisReply] {
    let parser = RedisReplyParser()
    var replies = [RedisReply]()
    for chunk in chunks {
      parser.feed(Array(chunk.utf8))
      while let reply = try parser.next() { replies.append(reply) }
    }
    return replies
  }

  @Test("every RESP2 type")
  func types() throws {
    let replies = try parse(["+OK\r\n-WRONGPASS nope\r\n:42\r\n$3\r\nabc\r\n$-1\r\n*-1\r\n*2\r\n$1\r\na\r\n:1\r\n"])
    #expect(
      replies == [
        .status("OK"), .error("WRONGPASS nope"), .integer(42), .bulk(Array("abc".utf8)), .null, .null,
        .array([.bulk([0x61]), .integer(1)]),
      ])
  }

  @Test("a pub/sub message split across reads is assembled")
  func splitMessage() throws {
    let wire = Array("*3\r\n$7\r\nmessage\r\n$5\r\nchan1\r\n$12\r\n{\"status\":1}\r\n".utf8)
    let parser = RedisReplyParser()
    var replies = [RedisReply]()
    for offset in stride(from: 0, to: wire.count, by: 3) {
      parser.feed(Array(wire[offset..<min(offset + 3, wire.count)]))
      while let reply = try parser.next() { replies.append(reply) }
    }
    #expect(replies.count == 1)
    guard case .message(let channel, let payload) = PubSubEvent(replies[0]) else {
      Issue.record("not a message")
      return
    }
    #expect(channel == Array("chan1".utf8))
    #expect(payload == Array("{\"status\":1}".utf8))
  }

  @Test("bulk strings are binary-safe")
  func binary() throws {
    let parser = RedisReplyParser()
    parser.feed(Array("$4\r\n".utf8) + [0x00, 0xFF, 0x0D, 0x0A] + Array("\r\n".utf8))
    #expect(try parser.next() == .bulk([0x00, 0xFF, 0x0D, 0x0A]))
  }

  @Test(
    "malformed input is a protocol error",
    arguments: [
      "?what\r\n", ":12a\r\n", ":\r\n", "$-2\r\n", "*-5\r\n", ":99999999999999999999\r\n",
      "$536870913\r\n", "*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n:1\r\n",
    ])
  func malformed(_ wire: String) {
    let parser = RedisReplyParser()
    parser.feed(Array(wire.utf8))
    #expect(throws: RedisError.self) { try parser.next() }
  }

  @Test("empty, null and nested values; integers at the limits")
  func edges() throws {
    let replies = try parse([
      "$0\r\n\r\n*0\r\n*2\r\n*2\r\n:1\r\n$-1\r\n*-1\r\n",
      ":-9223372036854775807\r\n:9223372036854775807\r\n+\r\n",
    ])
    #expect(
      replies == [
        .bulk([]), .array([]), .array([.array([.integer(1), .null]), .null]),
        .integer(-9_223_372_036_854_775_807), .integer(.max), .status(""),
      ])
  }

  @Test("a reply's bytes may hold CR and LF; a CR alone does not end a line")
  func carriageReturns() throws {
    #expect(try parse(["+a\rb\r\n$2\r\n\r\n\r\n"]) == [.status("a\rb"), .bulk([0x0D, 0x0A])])
  }

  @Test("a large reply fed in small pieces comes out whole, then the buffer is reused")
  func largeReply() throws {
    let value = [UInt8](repeating: UInt8(ascii: "x"), count: 2_000)
    var wire = Array("*1000\r\n".utf8)
    for _ in 0..<1_000 { wire += Array("$2000\r\n".utf8) + value + [0x0D, 0x0A] }
    wire += Array("+OK\r\n".utf8)
    let parser = RedisReplyParser()
    var replies = [RedisReply]()
    for offset in stride(from: 0, to: wire.count, by: 1_000) {
      parser.feed(Array(wire[offset..<min(offset + 1_000, wire.count)]))
      while let reply = try parser.next() { replies.append(reply) }
    }
    #expect(replies.count == 2)
    #expect(replies[0] == .array(Array(repeating: .bulk(value), count: 1_000)))
    #expect(replies[1] == .status("OK"))
    parser.feed(Array(":7\r\n".utf8))
    #expect(try parser.next() == .integer(7))
  }

  @Test("a long stream read while it arrives: every message, in order")
  func stream() throws {
    var parser = RESPParser()
    var received = 0
    var chunk = [UInt8]()
    for index in 0..<20_000 {
      chunk += Array("*3\r\n$7\r\nmessage\r\n$4\r\nchan\r\n$\(String(index).count)\r\n\(index)\r\n".utf8)
      if chunk.count > 5_000 || index == 19_999 {
        // Half now, half later: replies straddle the feeds.
        let half = chunk.count / 2
        for piece in [chunk[..<half], chunk[half...]] {
          let space = parser.writableSpace()
          #expect(space.count >= piece.count)
          piece.withUnsafeBytes { space.copyMemory(from: $0) }
          parser.didWrite(piece.count)
          while let reply = try parser.next() {
            guard case .message(_, let payload) = PubSubEvent(reply) else {
              Issue.record("not a message: \(reply)")
              return
            }
            #expect(payload == Array(String(received).utf8))
            received += 1
          }
        }
        chunk.removeAll()
      }
    }
    #expect(received == 20_000)
    #expect(parser.bufferedByteCount == 0)
  }
}

@Suite("RESP commands")
struct RedisCommandTests {
  @Test("arguments are length-prefixed, binary-safe, and prefixed keys are joined")
  func format() {
    var command = RedisCommand(argumentCount: 4)
    command.append("MGET")
    command.append(Array("k-".utf8), "a1")
    command.append([0x00, 0x0D, 0x0A])
    command.append(Array(repeating: UInt8(ascii: "z"), count: 10))
    #expect(command.isComplete)
    #expect(
      command.bytes
        == Array("*4\r\n$4\r\nMGET\r\n$4\r\nk-a1\r\n$3\r\n".utf8) + [0x00, 0x0D, 0x0A]
        + Array("\r\n$10\r\nzzzzzzzzzz\r\n".utf8))
  }
}
