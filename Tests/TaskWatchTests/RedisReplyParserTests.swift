import Testing

@testable import TaskWatch

@Suite("RESP parsing (hiredis reader, no server)")
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

  @Test("garbage is a protocol error")
  func garbage() {
    let parser = RedisReplyParser()
    parser.feed(Array("?what\r\n".utf8))
    #expect(throws: RedisError.self) { try parser.next() }
  }
}
