import Glibc

/// An incremental RESP2 parser with its own input buffer: the reply reader of
/// every ``RedisConnection`` and of ``RedisReplyParser``.
///
/// It replaces hiredis's reader, which (in 0.14) reads at most 16 KB per call
/// and moves the unread rest of its buffer to the front every time 1 KB has
/// been consumed, then builds a C reply tree that has to be copied again into
/// Swift values. At 100,000 messages that was a quarter of the time spent per
/// message (callgrind). Here a connection reads straight into the free space at
/// the end of one buffer, the unread rest moves only when that space runs out,
/// and replies are built as ``RedisReply`` values directly.
///
/// A reply is parsed in two passes: a frame scan that only checks the reply is
/// complete and well-formed (resumable, so a large reply arriving over many
/// reads is scanned once), then the build of its value.
///
/// A noncopyable struct rather than a class: its owner pays one exclusivity
/// check per call instead of one per field access (7 % of the instructions at
/// 100,000 replies when it was a class).
struct RESPParser: ~Copyable {
  /// A malformed reply: the stream cannot be trusted after it.
  struct ProtocolError: Error, Equatable {
    /// What was wrong, e.g. `got "?" as reply type byte`.
    let message: String
  }

  /// Free space guaranteed by ``writableSpace()``; also the size of the first buffer / 4.
  static let minimumRead = 32 * 1024
  /// Deepest nesting of arrays accepted (hiredis 0.14 stops at 7).
  static let maximumDepth = 7
  /// Longest bulk string accepted: Redis's own `proto-max-bulk-len` default.
  static let maximumBulkLength = 512 * 1024 * 1024

  private var storage: UnsafeMutablePointer<UInt8>
  private var capacity: Int
  /// First byte of the next reply.
  private var start = 0
  /// End of the bytes received.
  private var end = 0
  /// Where the frame scan of the next reply resumes; `start` when it has not begun.
  private var scanPosition = 0
  /// Elements still expected by each array the frame scan is inside.
  private var openArrays: [Int] = []

  private static let initialCapacity = 4 * minimumRead

  /// Creates an empty parser.
  init() {
    capacity = Self.initialCapacity
    storage = .allocate(capacity: capacity)
  }

  deinit {
    storage.deallocate()
  }

  /// Bytes received and not yet returned as replies.
  var bufferedByteCount: Int { end - start }

  // MARK: - Input

  /// Free space at the end of the buffer, at least ``minimumRead`` bytes, for a
  /// `read(2)`; report what was written with ``didWrite(_:)``.
  mutating func writableSpace() -> UnsafeMutableRawBufferPointer {
    reserve(Self.minimumRead)
    return UnsafeMutableRawBufferPointer(start: storage + end, count: capacity - end)
  }

  /// Records `count` bytes written into ``writableSpace()``.
  mutating func didWrite(_ count: Int) {
    precondition(count >= 0 && end + count <= capacity)
    end += count
  }

  /// Appends received bytes.
  mutating func feed(_ bytes: UnsafeRawBufferPointer) {
    guard let base = bytes.baseAddress, bytes.count > 0 else { return }
    reserve(bytes.count)
    (storage + end).update(from: base.assumingMemoryBound(to: UInt8.self), count: bytes.count)
    end += bytes.count
  }

  /// Makes room for `count` more bytes: starts over when everything was read,
  /// moves the unread rest to the front when that is enough, else grows.
  private mutating func reserve(_ count: Int) {
    if start == end {
      if capacity > 4 * Self.initialCapacity {
        // A large reply is over: give its memory back.
        storage.deallocate()
        capacity = Self.initialCapacity
        storage = .allocate(capacity: capacity)
      }
      start = 0
      end = 0
      scanPosition = 0
    }
    guard capacity - end < count else { return }
    let unread = end - start
    if start > 0 && unread + count <= capacity / 2 {
      storage.update(from: storage + start, count: unread)
    } else {
      var newCapacity = capacity * 2
      while newCapacity - unread < count { newCapacity *= 2 }
      let grown = UnsafeMutablePointer<UInt8>.allocate(capacity: newCapacity)
      grown.initialize(from: storage + start, count: unread)
      storage.deallocate()
      storage = grown
      capacity = newCapacity
    }
    scanPosition -= start
    end = unread
    start = 0
  }

  // MARK: - Replies

  /// The next complete reply, or `nil` while more bytes are needed.
  /// - Throws: ``ProtocolError`` on malformed input; the parser is then unusable.
  mutating func next() throws(ProtocolError) -> RedisReply? {
    guard start < end, let frameEnd = try scanFrame() else { return nil }
    var position = start
    let reply = build(at: &position)
    start = frameEnd
    scanPosition = frameEnd
    return reply
  }

  /// Advances the frame scan; returns where the next reply ends once all of it
  /// has arrived.
  private mutating func scanFrame() throws(ProtocolError) -> Int? {
    if scanPosition < start { scanPosition = start }
    while true {
      guard scanPosition < end, let lineEnd = lineEnd(from: scanPosition + 1) else { return nil }
      var next = lineEnd + 2
      switch storage[scanPosition] {
      case UInt8(ascii: "+"), UInt8(ascii: "-"):
        break
      case UInt8(ascii: ":"):
        _ = try integer(scanPosition + 1, lineEnd)
      case UInt8(ascii: "$"):
        let length = try integer(scanPosition + 1, lineEnd)
        if length >= 0 {
          guard length <= Self.maximumBulkLength else {
            throw ProtocolError(message: "bulk string length \(length) out of range")
          }
          guard end - next >= length + 2 else { return nil }
          next += length + 2
        } else if length != -1 {
          throw ProtocolError(message: "bulk string length \(length) out of range")
        }
      case UInt8(ascii: "*"):
        let count = try integer(scanPosition + 1, lineEnd)
        if count > 0 {
          guard openArrays.count < Self.maximumDepth else {
            throw ProtocolError(message: "arrays nested deeper than \(Self.maximumDepth)")
          }
          openArrays.append(count)
          scanPosition = next
          continue
        }
        guard count >= -1 else { throw ProtocolError(message: "array length \(count) out of range") }
      case let byte:
        throw ProtocolError(message: "got \(Self.describe(byte)) as reply type byte")
      }
      scanPosition = next
      // One element is complete: close every array it completes.
      while let last = openArrays.indices.last {
        openArrays[last] -= 1
        guard openArrays[last] == 0 else { break }
        openArrays.removeLast()
      }
      if openArrays.isEmpty { return scanPosition }
    }
  }

  /// Builds the value of a reply the frame scan found complete and well-formed.
  private func build(at position: inout Int) -> RedisReply {
    let type = storage[position]
    position += 1
    switch type {
    case UInt8(ascii: "+"), UInt8(ascii: "-"):
      let lineStart = position
      let lineEnd = lineEnd(from: lineStart)!
      position = lineEnd + 2
      let line = text(lineStart, lineEnd)
      return type == UInt8(ascii: "+") ? .status(line) : .error(line)
    case UInt8(ascii: ":"):
      return .integer(Int64(validatedInteger(at: &position)))
    case UInt8(ascii: "$"):
      let length = validatedInteger(at: &position)
      guard length >= 0 else { return .null }
      let bytes = UnsafeBufferPointer(start: storage + position, count: length)
      position += length + 2
      return .bulk(Self.interned(bytes) ?? Array(bytes))
    default:  // "*", the only other type the frame scan lets through
      let count = validatedInteger(at: &position)
      guard count >= 0 else { return .null }
      var elements = [RedisReply]()
      elements.reserveCapacity(count)
      for _ in 0..<count { elements.append(build(at: &position)) }
      return .array(elements)
    }
  }

  /// Reads an integer line the frame scan already checked, and its CRLF.
  private func validatedInteger(at position: inout Int) -> Int {
    let negative = storage[position] == UInt8(ascii: "-")
    if negative { position += 1 }
    var value = 0
    while storage[position] != UInt8(ascii: "\r") {
      value = value &* 10 &+ Int(storage[position] &- UInt8(ascii: "0"))
      position += 1
    }
    position += 2
    return negative ? -value : value
  }

  private func text(_ from: Int, _ to: Int) -> String {
    String(decoding: UnsafeBufferPointer(start: storage + from, count: to - from), as: UTF8.self)
  }

  /// The shared copy of the pub/sub kinds every message and confirmation
  /// starts with, so they cost no allocation.
  private static func interned(_ bytes: UnsafeBufferPointer<UInt8>) -> [UInt8]? {
    switch bytes.count {
    case 7 where bytes.elementsEqual(PubSubEvent.messageKind): return PubSubEvent.messageKind
    case 9 where bytes.elementsEqual(PubSubEvent.subscribeKind): return PubSubEvent.subscribeKind
    case 11 where bytes.elementsEqual(PubSubEvent.unsubscribeKind): return PubSubEvent.unsubscribeKind
    default: return nil
    }
  }

  /// The index of the `\r` of the first CRLF at or after `position`, if it has arrived.
  private func lineEnd(from position: Int) -> Int? {
    // Most lines are a few digits: look at those bytes before calling memchr.
    var index = position
    let quickEnd = min(end, position + 8)
    while index < quickEnd && storage[index] != UInt8(ascii: "\r") { index += 1 }
    if index < quickEnd {
      if index + 1 >= end { return nil }
      if storage[index + 1] == UInt8(ascii: "\n") { return index }
      index += 1
    }
    while index < end {
      guard let found = memchr(storage + index, Int32(UInt8(ascii: "\r")), end - index) else { return nil }
      index = storage.distance(to: found.assumingMemoryBound(to: UInt8.self))
      guard index + 1 < end else { return nil }
      if storage[index + 1] == UInt8(ascii: "\n") { return index }
      index += 1
    }
    return nil
  }

  /// Parses the decimal integer in `from..<to`.
  private func integer(_ from: Int, _ to: Int) throws(ProtocolError) -> Int {
    var index = from
    let negative = index < to && storage[index] == UInt8(ascii: "-")
    if negative { index += 1 }
    guard index < to else { throw badInteger(from, to) }
    var value = 0
    if to - index <= 18 {
      // Too short to overflow.
      while index < to {
        let digit = storage[index] &- UInt8(ascii: "0")
        guard digit < 10 else { throw badInteger(from, to) }
        value = value &* 10 &+ Int(digit)
        index += 1
      }
      return negative ? -value : value
    }
    while index < to {
      let digit = storage[index] &- UInt8(ascii: "0")
      let (times10, overflow) = value.multipliedReportingOverflow(by: 10)
      guard digit < 10, !overflow, times10 <= Int.max - Int(digit) else { throw badInteger(from, to) }
      value = times10 + Int(digit)
      index += 1
    }
    return negative ? -value : value
  }

  private func badInteger(_ from: Int, _ to: Int) -> ProtocolError {
    ProtocolError(message: "bad integer value \"\(text(from, min(to, from + 32)))\"")
  }

  private static func describe(_ byte: UInt8) -> String {
    (0x21...0x7E).contains(byte) ? "\"\(Character(Unicode.Scalar(byte)))\"" : "byte 0x\(String(byte, radix: 16))"
  }
}
