import Testing

@testable import CeleryPayload
@testable import RedisWire
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

  /// Every reply kind, with what the reader must make of it.
  static let wholeReplies: [(wire: String, reply: RedisReply)] = [
    ("+OK\r\n", .status("OK")),
    ("-WRONGPASS invalid username-password pair\r\n", .error("WRONGPASS invalid username-password pair")),
    (":-42\r\n", .integer(-42)),
    ("$5\r\nab\r\nc\r\n", .bulk(Array("ab\r\nc".utf8))),
    ("$-1\r\n", .null),
    ("*-1\r\n", .null),
    ("*0\r\n", .array([])),
    (
      "*3\r\n$7\r\nmessage\r\n$5\r\nchan1\r\n$12\r\n{\"status\":1}\r\n",
      .array([.bulk(Array("message".utf8)), .bulk(Array("chan1".utf8)), .bulk(Array("{\"status\":1}".utf8))])
    ),
    (
      "*4\r\n$8\r\npmessage\r\n$3\r\nc-*\r\n$3\r\nc-1\r\n$0\r\n\r\n",
      .array([.bulk(Array("pmessage".utf8)), .bulk(Array("c-*".utf8)), .bulk(Array("c-1".utf8)), .bulk([])])
    ),
    ("*2\r\n*2\r\n:1\r\n$-1\r\n*0\r\n", .array([.array([.integer(1), .null]), .array([])])),
  ]

  @Test("a reply split at every offset comes out whole, once", arguments: 0..<wholeReplies.count)
  func splitAtEveryOffset(_ index: Int) throws {
    let (text, expected) = Self.wholeReplies[index]
    let wire = Array(text.utf8)
    for split in 1..<wire.count {
      let parser = RedisReplyParser()
      parser.feed(Array(wire[..<split]))
      #expect(try parser.next() == nil, "complete after \(split) of \(wire.count) bytes")
      parser.feed(Array(wire[split...]))
      #expect(try parser.next() == expected)
      #expect(try parser.next() == nil)
    }
  }

  /// What a subscribed connection's reader makes of each reply: messages
  /// become one value; everything else, malformed messages included, is as above.
  static let subscribedReplies: [(wire: String, reply: RedisReply)] =
    [
      (
        "*3\r\n$7\r\nmessage\r\n$5\r\nchan1\r\n$12\r\n{\"status\":1}\r\n",
        .message(channel: Array("chan1".utf8), payload: Array("{\"status\":1}".utf8))
      ),
      (
        "*4\r\n$8\r\npmessage\r\n$3\r\nc-*\r\n$3\r\nc-1\r\n$0\r\n\r\n",
        .message(channel: Array("c-1".utf8), payload: [])
      ),
      (
        "*3\r\n$7\r\nmessage\r\n:1\r\n$1\r\nx\r\n",
        .array([.bulk(Array("message".utf8)), .integer(1), .bulk(Array("x".utf8))])
      ),
      (
        "*3\r\n$7\r\nmessage\r\n$1\r\nc\r\n$-1\r\n",
        .array([.bulk(Array("message".utf8)), .bulk(Array("c".utf8)), .null])
      ),
      (
        "*3\r\n$7\r\nmessage\r\n$1\r\nc\r\n*1\r\n:2\r\n",
        .array([.bulk(Array("message".utf8)), .bulk(Array("c".utf8)), .array([.integer(2)])])
      ),
      (
        "*4\r\n$7\r\nmessage\r\n$1\r\nc\r\n$1\r\np\r\n$1\r\nq\r\n",
        .array([.bulk(Array("message".utf8)), .bulk(Array("c".utf8)), .bulk(Array("p".utf8)), .bulk(Array("q".utf8))])
      ),
      (
        "*2\r\n*3\r\n$7\r\nmessage\r\n$1\r\nc\r\n$1\r\np\r\n:1\r\n",
        .array([.array([.bulk(Array("message".utf8)), .bulk(Array("c".utf8)), .bulk(Array("p".utf8))]), .integer(1)])
      ),
    ] + wholeReplies.filter { !$0.wire.contains("message") }

  @Test("a subscribed connection's reader: messages as one value, split at every offset; anything else as before")
  func subscribedMessages() throws {
    for (text, expected) in Self.subscribedReplies {
      let wire = Array(text.utf8)
      for split in 0..<wire.count {
        let parser = RedisReplyParser(readsPubSubMessages: true)
        parser.feed(Array(wire[..<split]))
        #expect(try parser.next() == nil)
        parser.feed(Array(wire[split...]))
        #expect(try parser.next() == expected, "\(text.debugDescription) split at \(split)")
        #expect(try parser.next() == nil)
      }
    }
    // Back to back, one byte at a time: no state is left over from one reply to the next.
    let parser = RedisReplyParser(readsPubSubMessages: true)
    var replies = [RedisReply]()
    for byte in Self.subscribedReplies.flatMap({ Array($0.wire.utf8) }) {
      parser.feed([byte])
      while let reply = try parser.next() { replies.append(reply) }
    }
    #expect(replies == Self.subscribedReplies.map(\.reply))
  }

  /// Channels `c-` and one digit keyed by the digit, as a watch keys task channels.
  private static let digitKeying = ChannelKeying(
    key: { channel in
      guard channel.count == 3, channel[0] == UInt8(ascii: "c"), channel[1] == UInt8(ascii: "-"),
        channel[2] &- UInt8(ascii: "0") < 10
      else { return nil }
      return ChannelKey(UInt64(channel[2] - UInt8(ascii: "0")), 0)
    },
    channel: { key in Array("c-\(key.first)".utf8) })

  static let keyedReplies: [(wire: String, reply: RedisReply)] = [
    (
      "*3\r\n$7\r\nmessage\r\n$3\r\nc-1\r\n$12\r\n{\"status\":1}\r\n",
      .keyedMessage(key: ChannelKey(1, 0), payload: Array("{\"status\":1}".utf8))
    ),
    (
      "*3\r\n$7\r\nmessage\r\n$5\r\nchan1\r\n$1\r\nx\r\n",
      .message(channel: Array("chan1".utf8), payload: Array("x".utf8))
    ),
    ("*4\r\n$8\r\npmessage\r\n$3\r\nc-*\r\n$3\r\nc-2\r\n$0\r\n\r\n", .keyedMessage(key: ChannelKey(2, 0), payload: [])),
    (
      "*4\r\n$8\r\npmessage\r\n$3\r\nc-*\r\n$3\r\ncc2\r\n$1\r\ny\r\n",
      .message(channel: Array("cc2".utf8), payload: Array("y".utf8))
    ),
    // No message after all: the keyed channel comes back as its bytes.
    (
      "*3\r\n$7\r\nmessage\r\n$3\r\nc-3\r\n$-1\r\n",
      .array([.bulk(Array("message".utf8)), .bulk(Array("c-3".utf8)), .null])
    ),
    (
      "*4\r\n$7\r\nmessage\r\n$3\r\nc-4\r\n$1\r\np\r\n$1\r\nq\r\n",
      .array([.bulk(Array("message".utf8)), .bulk(Array("c-4".utf8)), .bulk(Array("p".utf8)), .bulk(Array("q".utf8))])
    ),
    (
      "*4\r\n$8\r\npmessage\r\n$3\r\nc-*\r\n$3\r\nc-5\r\n:7\r\n",
      .array([.bulk(Array("pmessage".utf8)), .bulk(Array("c-*".utf8)), .bulk(Array("c-5".utf8)), .integer(7)])
    ),
    // Another pattern after the first: the shared pattern array is made again.
    (
      "*4\r\n$8\r\npmessage\r\n$2\r\nx*\r\n$3\r\nc-6\r\n:8\r\n",
      .array([.bulk(Array("pmessage".utf8)), .bulk(Array("x*".utf8)), .bulk(Array("c-6".utf8)), .integer(8)])
    ),
  ]

  @Test("a subscriber with a channel keying: keyed channels without their bytes, every split, back to back")
  func keyedMessages() throws {
    for (text, expected) in Self.keyedReplies {
      let wire = Array(text.utf8)
      for split in 0..<wire.count {
        let parser = RedisReplyParser(readsPubSubMessages: true, channelKeying: Self.digitKeying)
        parser.feed(Array(wire[..<split]))
        #expect(try parser.next() == nil)
        parser.feed(Array(wire[split...]))
        #expect(try parser.next() == expected, "\(text.debugDescription) split at \(split)")
      }
    }
    let parser = RedisReplyParser(readsPubSubMessages: true, channelKeying: Self.digitKeying)
    var replies = [RedisReply]()
    for byte in Self.keyedReplies.flatMap({ Array($0.wire.utf8) }) {
      parser.feed([byte])
      while let reply = try parser.next() { replies.append(reply) }
    }
    #expect(replies == Self.keyedReplies.map(\.reply))
  }

  @Test("task channels keyed by their uuid: round trip, and no key for any other channel")
  func taskChannelKeys() {
    let keys = TaskChannelKeys(prefix: Array("celery-task-meta-".utf8))
    let id = "d4f1e7a2-0b3c-4e5f-9a8b-7c6d5e4f3a2b"
    let channel = Array(("celery-task-meta-" + id).utf8)
    let key = channel.withUnsafeBytes { keys.key(ofChannel: $0) }
    #expect(key != nil)
    if let key {
      #expect(keys.channel(ofKey: key) == channel)
      #expect(TaskChannelKeys.withID(of: key) { Array($0) } == Array(id.utf8))
    }
    for other in [
      "celery-task-meta-" + id.uppercased(), "celery-task-meta-task-1", "celery-task-meta-" + id + "0",
      "celery-task-meta:" + id, "taskwatch-fence:0123456789abcdef", id,
    ] {
      #expect(Array(other.utf8).withUnsafeBytes { keys.key(ofChannel: $0) } == nil, "\(other)")
    }
  }

  @Test("every reply fed one byte at a time, back to back")
  func byteByByte() throws {
    let wire = Self.wholeReplies.flatMap { Array($0.wire.utf8) }
    let parser = RedisReplyParser()
    var replies = [RedisReply]()
    for byte in wire {
      parser.feed([byte])
      while let reply = try parser.next() { replies.append(reply) }
    }
    #expect(replies == Self.wholeReplies.map(\.reply))
  }

  @Test("pub/sub kinds come back as the shared arrays")
  func sharedKinds() throws {
    let parser = RedisReplyParser()
    parser.feed(Array("*3\r\n$7\r\nmessage\r\n$1\r\nc\r\n$1\r\np\r\n*2\r\n$4\r\npong\r\n$0\r\n\r\n".utf8))
    for kind in [RedisReply.PubSubKind.message, RedisReply.PubSubKind.pong] {
      guard case .array(let parts) = try parser.next(), case .bulk(let bytes) = parts[0] else {
        Issue.record("not an array starting with a bulk string")
        return
      }
      #expect(bytes == kind)
      bytes.withUnsafeBufferPointer { mine in
        kind.withUnsafeBufferPointer { shared in #expect(mine.baseAddress == shared.baseAddress) }
      }
    }
  }

  @Test("bulk strings are binary-safe")
  func binary() throws {
    let parser = RedisReplyParser()
    parser.feed(Array("$4\r\n".utf8) + [0x00, 0xFF, 0x0D, 0x0A] + Array("\r\n".utf8))
    #expect(try parser.next() == .bulk([0x00, 0xFF, 0x0D, 0x0A]))
  }

  @Test(
    "malformed input is a protocol error, with hiredis's words",
    arguments: [
      ("?what\r\n", "got \"?\" as reply type byte"), (":12a\r\n", "bad integer value"),
      (":\r\n", "bad integer value"), ("$-2\r\n", "bulk string length out of range"),
      ("*-5\r\n", "multi-bulk length out of range"), (":99999999999999999999\r\n", "bad integer value"),
      ("$x\r\n", "bad bulk string length"),
      // hiredis 0.14 would wait for all 512 MB + 1 bytes, and for the CR of an endless length.
      ("$536870913\r\n", "bulk string length 536870913 out of range"),
      ("$123456789012345678901234", "bad bulk string length"),
      // Seven levels are accepted; hiredis 0.14 would take an eighth.
      ("*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n:1\r\n", "arrays nested deeper than 7"),
    ])
  func malformed(_ wire: String, _ reason: String) {
    let parser = RedisReplyParser()
    parser.feed(Array(wire.utf8))
    #expect(throws: RedisError.connectionLost(endpoint: "reader", reason: "protocol error: " + reason)) {
      try parser.next()
    }
    // A reader that failed stays failed.
    parser.feed(Array("+OK\r\n".utf8))
    #expect(throws: RedisError.self) { try parser.next() }
  }

  @Test("arrays nested seven deep are accepted")
  func deepestNesting() throws {
    let replies = try parse([String(repeating: "*1\r\n", count: 7) + ":1\r\n"])
    var expected = RedisReply.integer(1)
    for _ in 0..<7 { expected = .array([expected]) }
    #expect(replies == [expected])
  }

  @Test("a bulk string at the length limit is waited for, not refused")
  func bulkAtLimit() throws {
    let parser = RedisReplyParser()
    parser.feed(Array("$536870912\r\nabc".utf8))
    #expect(try parser.next() == nil)
  }

  @Test("a bulk string far larger than a slice, fed at once, comes out whole")
  func largeBulk() throws {
    let value = (0..<3_000_000).map { UInt8(truncatingIfNeeded: $0 &* 7) }
    let parser = RedisReplyParser()
    parser.feed(Array("$3000000\r\n".utf8) + value + Array("\r\n:5\r\n".utf8))
    #expect(try parser.next() == .bulk(value))
    #expect(try parser.next() == .integer(5))
    #expect(try parser.next() == nil)
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
    var reader = HiredisReader()
    var received = 0
    var chunk = [UInt8]()
    for index in 0..<20_000 {
      chunk += Array("*3\r\n$7\r\nmessage\r\n$4\r\nchan\r\n$\(String(index).count)\r\n\(index)\r\n".utf8)
      if chunk.count > 5_000 || index == 19_999 {
        // Half now, half later: replies straddle the reads.
        let half = chunk.count / 2
        for piece in [chunk[..<half], chunk[half...]] {
          let space = reader.writableSpace()
          #expect(space.count >= piece.count)
          piece.withUnsafeBytes { space.copyMemory(from: $0) }
          reader.didWrite(piece.count)
          while let reply = try reader.next() {
            #expect(
              reply
                == .array([
                  .bulk(RedisReply.PubSubKind.message), .bulk(Array("chan".utf8)), .bulk(Array(String(received).utf8)),
                ]))
            received += 1
          }
        }
        chunk.removeAll()
      }
    }
    #expect(received == 20_000)
    #expect(reader.bufferedByteCount == 0)
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
