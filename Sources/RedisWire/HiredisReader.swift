@preconcurrency import CHiredis
import Glibc

/// hiredis's RESP reader (`redisReader`), building ``RedisReply`` values
/// directly: the reply parser of every ``RedisConnection`` and of
/// ``RedisReplyParser``.
///
/// The reader is created with `redisReaderCreateWithFunctions` and object
/// functions (0.14's five callbacks) that append each value to a
/// ``ReplyBuilder`` instead of making hiredis's own `redisReply` tree, which
/// would have to be copied into Swift values and freed again.
///
/// Bytes from the ``Transport`` are first read into a staging buffer here
/// (``writableSpace()``, ``didWrite(_:)``), and fed to hiredis in slices of
/// ``sliceSize`` bytes, only when `redisReaderGetReply` has no complete reply
/// left: hiredis 0.14 moves the unread rest of its buffer to the front each
/// time 1 KB has been consumed, so what it holds must stay small (fed 16 KB
/// at a time the move cost 10-15 % of the instructions per message, in 2-4 KB
/// slices 1.3-1.6 %; HIREDIS-NOTES.md). The one exception is a bulk string
/// hiredis is waiting for: it consumes nothing until the whole string is
/// there, so the rest of it is fed at once.
///
/// Two limits hiredis 0.14 does not keep are kept here: a bulk string
/// longer than ``maximumBulkLength`` is an error (hiredis would wait for all
/// of it), and arrays nest at most ``maximumDepth`` deep (0.14 accepts 8
/// levels; later versions more).
///
/// A noncopyable struct rather than a class: its owner pays one exclusivity
/// check per call instead of one per field access.
struct HiredisReader: ~Copyable {
  /// A malformed reply: the stream cannot be trusted after it.
  struct ProtocolError: Error, Equatable {
    /// What was wrong, e.g. `got "?" as reply type byte`.
    let message: String
  }

  /// Free space guaranteed by ``writableSpace()``.
  static let minimumRead = 32 * 1024
  /// Bytes handed to hiredis per `redisReaderFeed`.
  static let sliceSize = 4 * 1024
  /// Deepest nesting of arrays accepted.
  static let maximumDepth = 7
  /// Longest bulk string accepted: Redis's own `proto-max-bulk-len` default.
  static let maximumBulkLength = 512 * 1024 * 1024

  private let reader: UnsafeMutablePointer<redisReader>
  /// The object functions and the builder they fill, at a stable address
  /// (the reader keeps a pointer to the functions, and reaches the builder
  /// through its `privdata`).
  private let state: UnsafeMutablePointer<ReaderState>

  /// Bytes read and not yet fed to hiredis: `staging[start..<end]`.
  private var staging: UnsafeMutablePointer<UInt8>
  private var capacity: Int
  private var start = 0
  private var end = 0
  /// Whether hiredis has said it needs more bytes than it was given.
  private var needsInput = true

  private static let initialCapacity = 4 * minimumRead

  /// Creates an empty reader.
  init() {
    state = .allocate(capacity: 1)
    state.initialize(to: ReaderState())
    let raw = UnsafeMutableRawPointer(state)
    let functions = (raw + MemoryLayout<ReaderState>.offset(of: \.functions)!)
      .assumingMemoryBound(to: redisReplyObjectFunctions.self)
    guard let reader = redisReaderCreateWithFunctions(functions) else {
      fatalError("out of memory creating a hiredis reader")
    }
    self.reader = reader
    // Every task hiredis hands the object functions carries this pointer.
    reader.pointee.privdata = raw + MemoryLayout<ReaderState>.offset(of: \.builder)!
    capacity = Self.initialCapacity
    staging = .allocate(capacity: capacity)
  }

  deinit {
    redisReaderFree(reader)
    state.deinitialize(count: 1)
    state.deallocate()
    staging.deallocate()
  }

  /// Whether a top-level `message` or `pmessage` array whose parts are bulk
  /// strings is returned as ``RedisReply/message(channel:payload:)`` (a
  /// subscribed connection's reader): no array of parts is built and freed
  /// per message (−542 instructions a message at S4). Anything else, or a
  /// malformed message, stays an array.
  var readsPubSubMessages: Bool {
    get { state.pointee.builder.readsPubSubMessages }
    nonmutating set { state.pointee.builder.readsPubSubMessages = newValue }
  }

  /// How the channels of messages read as one (``readsPubSubMessages``)
  /// are keyed; `nil` keeps every channel's bytes.
  var channelKeying: ChannelKeying? {
    get { state.pointee.builder.channelKeying }
    nonmutating set { state.pointee.builder.channelKeying = newValue }
  }

  /// Bytes received and not yet returned as replies.
  var bufferedByteCount: Int {
    end - start + reader.pointee.len - reader.pointee.pos
  }

  // MARK: - Input

  /// Free space at the end of the staging buffer, at least ``minimumRead``
  /// bytes, for a transport read; report what was written with ``didWrite(_:)``.
  mutating func writableSpace() -> UnsafeMutableRawBufferPointer {
    reserve(Self.minimumRead)
    return UnsafeMutableRawBufferPointer(start: staging + end, count: capacity - end)
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
    (staging + end).update(from: base.assumingMemoryBound(to: UInt8.self), count: bytes.count)
    end += bytes.count
  }

  /// Makes room for `count` more bytes: starts over when everything was fed,
  /// moves the unfed rest to the front when that is enough, else grows.
  private mutating func reserve(_ count: Int) {
    if start == end {
      if capacity > 4 * Self.initialCapacity {
        // A large burst is over: give its memory back.
        staging.deallocate()
        capacity = Self.initialCapacity
        staging = .allocate(capacity: capacity)
      }
      start = 0
      end = 0
    }
    guard capacity - end < count else { return }
    let unfed = end - start
    if start > 0 && unfed + count <= capacity / 2 {
      staging.update(from: staging + start, count: unfed)
    } else {
      var newCapacity = capacity * 2
      while newCapacity - unfed < count { newCapacity *= 2 }
      let grown = UnsafeMutablePointer<UInt8>.allocate(capacity: newCapacity)
      grown.initialize(from: staging + start, count: unfed)
      staging.deallocate()
      staging = grown
      capacity = newCapacity
    }
    end = unfed
    start = 0
  }

  // MARK: - Replies

  /// The next complete reply, or `nil` while more bytes are needed.
  /// - Throws: ``ProtocolError`` on malformed input; the reader is then unusable.
  mutating func next() throws(ProtocolError) -> RedisReply? {
    var awaited = 0
    while true {
      if !needsInput {
        var object: UnsafeMutableRawPointer?
        guard redisReaderGetReply(reader, &object) == REDIS_OK else { throw failure() }
        if object != nil { return state.pointee.builder.take() }
        needsInput = true
        awaited = try awaitedBulkBytes()
      }
      guard start < end else { return nil }
      let count = min(end - start, max(Self.sliceSize, awaited))
      guard redisReaderFeed(reader, staging + start, count) == REDIS_OK else { throw failure() }
      start += count
      needsInput = false
    }
  }

  /// When hiredis waits for the rest of a bulk string, how many bytes it
  /// still needs; 0 otherwise.
  /// - Throws: ``ProtocolError`` when the announced length is over
  ///   ``maximumBulkLength``: hiredis would wait for all of it.
  private func awaitedBulkBytes() throws(ProtocolError) -> Int {
    let depth = Int(reader.pointee.ridx)
    guard depth >= 0, let buffer = reader.pointee.buf else { return 0 }
    let tasks = (UnsafeRawPointer(reader) + MemoryLayout<redisReader>.offset(of: \.rstack)!)
      .assumingMemoryBound(to: redisReadTask.self)
    guard tasks[depth].type == REDIS_REPLY_STRING else { return 0 }
    // The type byte is consumed: the length line starts at `pos`.
    let line = UnsafeRawBufferPointer(
      start: buffer + reader.pointee.pos, count: reader.pointee.len - reader.pointee.pos)
    var length = 0
    for (offset, byte) in line.enumerated() {
      if byte == UInt8(ascii: "\r") {
        guard length <= Self.maximumBulkLength else {
          throw ProtocolError(message: "bulk string length \(length) out of range")
        }
        return max(0, offset + 2 + length + 2 - line.count)
      }
      let digit = Int(byte &- UInt8(ascii: "0"))
      // Longer than any valid length: hiredis would only say so once a CR came.
      guard offset < 20, digit < 10 || (offset == 0 && byte == UInt8(ascii: "-")) else {
        throw ProtocolError(message: "bad bulk string length")
      }
      if digit < 10 { length = length &* 10 &+ digit }
    }
    return 0
  }

  /// The error that stopped the reader, in a user's words (hiredis's text
  /// starting in lower case, without its "Protocol error, " prefix).
  private func failure() -> ProtocolError {
    if let message = state.pointee.builder.failure { return ProtocolError(message: message) }
    var text = withUnsafeBytes(of: reader.pointee.errstr) { raw in
      String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self)
    }
    if text.hasPrefix("Protocol error, ") { text.removeFirst("Protocol error, ".count) }
    if text.isEmpty { text = "reader error \(reader.pointee.err)" }
    return ProtocolError(message: text.prefix(1).lowercased() + text.dropFirst())
  }
}

/// The object functions a ``HiredisReader``'s hiredis reader calls, and the
/// builder they fill (its `privdata`).
private struct ReaderState {
  var functions = redisReplyObjectFunctions(
    createString: { task, string, length in
      guard let task, let builder = ReplyBuilder.of(task), let string else { return nil }
      switch task.pointee.type {
      case REDIS_REPLY_STRING where builder.pointee.isReadingMessage:
        // A channel or payload: straight to the message, not through `add`.
        builder.pointee.addMessagePart(UnsafeRawBufferPointer(start: string, count: length))
      case REDIS_REPLY_STRING:
        let kind = task.pointee.idx == 0 ? RedisReply.PubSubKind.shared(string, length) : nil
        builder.pointee.add(.bulk(kind ?? ReplyBuilder.bytes(string, length)))
      case REDIS_REPLY_ERROR:
        builder.pointee.add(.error(ReplyBuilder.text(string, length)))
      default:
        builder.pointee.add(.status(ReplyBuilder.text(string, length)))
      }
      return UnsafeMutableRawPointer(builder)
    },
    createArray: { task, count in
      guard let task, let builder = ReplyBuilder.of(task) else { return nil }
      guard builder.pointee.openArray(count: Int(count)) else { return nil }
      return UnsafeMutableRawPointer(builder)
    },
    createInteger: { task, value in
      guard let task, let builder = ReplyBuilder.of(task) else { return nil }
      builder.pointee.add(.integer(Int64(value)))
      return UnsafeMutableRawPointer(builder)
    },
    createNil: { task in
      guard let task, let builder = ReplyBuilder.of(task) else { return nil }
      builder.pointee.add(.null)
      return UnsafeMutableRawPointer(builder)
    },
    // The values live in the builder; hiredis only holds marker pointers.
    freeObject: { _ in }
  )
  var builder = ReplyBuilder()
}

/// Assembles the values hiredis's object functions report, in the order it
/// parses them (depth first), into one reply.
private struct ReplyBuilder {
  /// An array still missing elements.
  private struct OpenArray {
    var elements: [RedisReply] = []
    /// Elements still to come; 0 when no array is open.
    var missing = 0
    /// Elements announced.
    var count = 0
  }

  /// See ``HiredisReader/readsPubSubMessages``.
  var readsPubSubMessages = false
  /// See ``HiredisReader/channelKeying``.
  var channelKeying: ChannelKeying?
  /// The innermost array being filled (most replies have no other).
  private var current = OpenArray()
  /// The arrays around ``current``, innermost last.
  private var enclosing: [OpenArray] = []
  /// While ``current`` is a pub/sub message being read as one: its kind and
  /// the bulk strings after it so far (``messagePartCount`` of them), kept
  /// out of ``current``'s elements.
  private var messageKind: [UInt8]?
  private var messageParts: ([UInt8], [UInt8], [UInt8]) = ([], [], [])
  private var messagePartCount = 0
  /// The key of the message's channel when ``channelKeying`` has one (its
  /// part in ``messageParts`` then stays empty: no array is made for it).
  private var channelKey: ChannelKey?
  /// The pattern of the last `pmessage`: a pattern subscription's messages
  /// all carry it, so its array is made once and shared while the bytes
  /// stay the same (an array made and freed per message cost ~300
  /// instructions at S4 with `--all`).
  private var lastPattern: [UInt8] = []
  /// The reply completed last, until ``take()``.
  private var completed: RedisReply?
  /// Why a callback refused a value (hiredis then reports "out of memory").
  private(set) var failure: String?

  /// The builder of the reader a task belongs to (its `privdata`).
  static func of(_ task: UnsafePointer<redisReadTask>) -> UnsafeMutablePointer<ReplyBuilder>? {
    task.pointee.privdata?.assumingMemoryBound(to: ReplyBuilder.self)
  }

  /// A copy of hiredis's bytes.
  static func bytes(_ string: UnsafePointer<CChar>, _ length: Int) -> [UInt8] {
    Array(UnsafeBufferPointer(start: UnsafeRawPointer(string).assumingMemoryBound(to: UInt8.self), count: length))
  }

  /// hiredis's bytes as text.
  static func text(_ string: UnsafePointer<CChar>, _ length: Int) -> String {
    String(decoding: UnsafeRawBufferPointer(start: string, count: length), as: UTF8.self)
  }

  /// Whether a pub/sub message is being read as one: its next bulk string
  /// goes to ``addMessagePart(_:)``.
  var isReadingMessage: Bool { messageKind != nil }

  /// Returns the completed reply and forgets it.
  mutating func take() -> RedisReply? {
    completed.take()
  }

  /// Starts an array of `count` elements; `false` when it nests too deep.
  mutating func openArray(count: Int) -> Bool {
    guard count > 0 else {
      add(.array([]))
      return true
    }
    if current.missing > 0 {
      guard enclosing.count + 1 < HiredisReader.maximumDepth else {
        failure = "arrays nested deeper than \(HiredisReader.maximumDepth)"
        return false
      }
      // An array inside a message: it is no message.
      if messageKind != nil { unfoldMessage() }
      enclosing.append(current)
    }
    // Elements are reserved with the first one, so a message read as one allocates none.
    current = OpenArray(missing: count, count: count)
    return true
  }

  /// Adds a complete value to the innermost open array, closing every array
  /// it completes; a value outside any array is a reply.
  mutating func add(_ value: consuming RedisReply) {
    guard current.missing > 0 else {
      completed = value
      return
    }
    if messageKind != nil {
      if case .bulk(let bytes) = value {
        bytes.withUnsafeBytes { addMessagePart($0) }
        return
      }
      unfoldMessage()
    } else if readsPubSubMessages && current.elements.isEmpty && current.missing == current.count
      && enclosing.isEmpty, case .bulk(let kind) = value, isMessageKind(kind, count: current.count)
    {
      messageKind = kind
      current.missing -= 1
      return
    }
    if current.elements.isEmpty {
      // The count is the server's word: reserve no more than a batch's worth up front.
      current.elements.reserveCapacity(min(current.count, 4_096))
    }
    current.elements.append(value)
    current.missing -= 1
    if current.missing == 0 { close() }
  }

  /// Whether `kind` starts a message of `count` parts: `message` and 3, or `pmessage` and 4.
  private func isMessageKind(_ kind: [UInt8], count: Int) -> Bool {
    switch count {
    case 3: return kind == RedisReply.PubSubKind.message
    case 4: return kind == RedisReply.PubSubKind.patternMessage
    default: return false
    }
  }

  /// Where the channel is among a message's parts after its kind:
  /// `pmessage` has the pattern first.
  private var channelPart: Int { current.count == 4 ? 1 : 0 }

  /// Keeps a bulk string of the message being read; the last one, the
  /// payload, makes the reply with the channel read before it: its key
  /// when ``channelKeying`` has one, else its bytes.
  mutating func addMessagePart(_ bytes: UnsafeRawBufferPointer) {
    current.missing -= 1
    guard current.missing == 0 else {
      if messagePartCount == channelPart, let key = channelKeying?.key(bytes) {
        channelKey = key
      } else if current.count == 4 && messagePartCount == 0 {
        if !Self.equal(lastPattern, bytes) { lastPattern = Array(bytes) }
        messageParts.0 = lastPattern
      } else {
        switch messagePartCount {
        case 0: messageParts.0 = Array(bytes)
        case 1: messageParts.1 = Array(bytes)
        default: messageParts.2 = Array(bytes)
        }
      }
      messagePartCount += 1
      return
    }
    let payload = Array(bytes)
    if let key = channelKey {
      completed = .keyedMessage(key: key, payload: payload)
    } else if current.count == 4 {
      // `pmessage`: the pattern first, then the channel. Moved out, not
      // copied: the parts were retained and released once more each.
      completed = .message(channel: Self.take(&messageParts.1), payload: payload)
    } else {
      completed = .message(channel: Self.take(&messageParts.0), payload: payload)
    }
    messageParts.0 = []
    channelKey = nil
    messageKind = nil
    messagePartCount = 0
    current = OpenArray()
  }

  /// Whether `array` holds exactly `bytes`.
  private static func equal(_ array: [UInt8], _ bytes: UnsafeRawBufferPointer) -> Bool {
    array.count == bytes.count
      && array.withUnsafeBytes { array in
        bytes.isEmpty || memcmp(array.baseAddress!, bytes.baseAddress!, bytes.count) == 0
      }
  }

  /// The bytes in `part`, leaving it empty.
  @inline(__always)
  private static func take(_ part: inout [UInt8]) -> [UInt8] {
    var taken: [UInt8] = []
    swap(&taken, &part)
    return taken
  }

  /// Turns the message being read back into a plain array (a part that is
  /// no bulk string came).
  private mutating func unfoldMessage() {
    guard let kind = messageKind else { return }
    var elements = [RedisReply]()
    elements.reserveCapacity(current.count)
    elements.append(.bulk(kind))
    let parts = [messageParts.0, messageParts.1, messageParts.2]
    for (position, part) in parts.prefix(messagePartCount).enumerated() {
      if position == channelPart, let key = channelKey, let keying = channelKeying {
        elements.append(.bulk(keying.channel(key)))
      } else {
        elements.append(.bulk(part))
      }
    }
    channelKey = nil
    current.elements = elements
    messageKind = nil
    messageParts = ([], [], [])
    messagePartCount = 0
  }

  /// Turns the complete innermost array into a value of the one around it.
  private mutating func close() {
    let array = RedisReply.array(current.elements)
    current = enclosing.popLast() ?? OpenArray()
    add(array)
  }
}
