import Glibc
import TaskWatch

/// Writes the output contract: one JSON object per line on standard output.
///
/// Lines are collected in a buffer and written with one `write(2)` per
/// ``flush()``, which the run loop calls before every blocking wait, so lines
/// reach a pipe as they happen without a syscall per line during a burst.
/// A burst larger than ``chunkSize`` (100,000 snapshot lines are ~20 MB) goes
/// out in chunks of about that size as it is written, so memory stays bounded.
struct NDJSONWriter {
  /// Drop `result` and `traceback` from `meta` (`--no-result`).
  var omitResult = false
  /// Write no state lines at all (`--quiet`).
  var quiet = false
  /// Buffered bytes past which a line is written out at once.
  static let chunkSize = 1 << 16
  private var buffer: [UInt8] = []
  private var timestamps = RFC3339Timestamp()
  private let descriptor: Int32
  /// Set when a chunk could not be written because the reader is gone; the
  /// next ``flush()`` reports it and later lines are dropped.
  private var outputClosed = false
  /// The middle of the last line written and what it was made from: in a
  /// burst it rarely changes (100,000 lines of PENDING → SUCCESS), so its
  /// text is kept rather than escaped and assembled again.
  private var lastTransition: (state: TaskState, previous: TaskState?, source: StateChange.Source, text: [UInt8]) =
    (.pending, nil, .snapshot, [])

  /// Creates a writer for a file descriptor (standard output by default).
  init(descriptor: Int32 = STDOUT_FILENO) {
    self.descriptor = descriptor
    buffer.reserveCapacity(Self.chunkSize + 4096)
  }

  /// Appends one `{"type":"state",…}` line.
  mutating func write(_ change: StateChange) {
    guard !quiet else { return }
    if let reason = change.unreadable { return writeUnreadable(change, reason) }
    // A uuid id (no lineage after it) goes into the line's reserved room,
    // formatted on the stack first.
    var uuid: UUIDText = (0, 0, 0, 0, 0)
    let idInRoom =
      change.parentID == nil
      && withUnsafeMutableBytes(of: &uuid) {
        change.formatUUIDTaskID(into: $0.baseAddress!)
      }
    if !idInRoom {
      append(Self.lineStart)
      JSONText.appendID(of: change, to: &buffer)
      appendLineage(of: change)
    }
    if change.state != lastTransition.state || change.previous != lastTransition.previous
      || change.source != lastTransition.source || lastTransition.text.isEmpty
    {
      lastTransition = (change.state, change.previous, change.source, Self.transitionText(change))
    }
    let meta = change.meta.map { omitResult ? $0.jsonWithoutResult() : $0.json }
    appendLine(
      uuid: idInRoom ? uuid : nil, transition: lastTransition.text, timestamp: timestamps.quoted(change.observedAt),
      meta: meta)
    if buffer.count >= Self.chunkSize { writeBuffer() }
  }

  /// What a state line starts with, up to the task id's value.
  private static var lineStart: StaticString { #"{"type":"state","task_id":"# }

  /// A uuid id's text, in its first ``StateChange/uuidTaskIDLength`` bytes.
  private typealias UUIDText = (UInt64, UInt64, UInt64, UInt64, UInt64)

  /// Appends the line, or the rest of it after the id and lineage written
  /// already when `uuid` is `nil`, into room reserved once: the start of the
  /// line and the quoted `uuid` when it is given, then `transition`, `timestamp`,
  /// `,"meta":`, the meta (or `null`) and `}\n`: appended one by one, each
  /// piece checked the buffer's uniqueness and capacity again (−300
  /// instructions a message at S4, and −250 for the id, callgrind).
  private mutating func appendLine(
    uuid: UUIDText?, transition: [UInt8], timestamp: [UInt8], meta: [UInt8]?
  ) {
    let metaLabel: StaticString = #","meta":"#
    let metaNull: StaticString = "null"
    let lineEnd: StaticString = "}\n"
    let quote: StaticString = "\""
    let idCount = uuid == nil ? 0 : Self.lineStart.utf8CodeUnitCount + StateChange.uuidTaskIDLength + 2
    let count =
      idCount + transition.count + timestamp.count + metaLabel.utf8CodeUnitCount
      + (meta?.count ?? metaNull.utf8CodeUnitCount) + lineEnd.utf8CodeUnitCount
    buffer.append(addingCapacity: count) { line in
      line.withUnsafeMutableBufferPointer { room, initialized in
        var end = UnsafeMutableRawPointer(room.baseAddress!)
        if var uuid {
          end = Self.put(Self.lineStart, at: end)
          end = Self.put(quote, at: end)
          withUnsafeBytes(of: &uuid) { end.copyMemory(from: $0.baseAddress!, byteCount: StateChange.uuidTaskIDLength) }
          end = Self.put(quote, at: end + StateChange.uuidTaskIDLength)
        }
        end = Self.put(transition, at: end)
        end = Self.put(timestamp, at: end)
        end = Self.put(metaLabel, at: end)
        end = meta.map { Self.put($0, at: end) } ?? Self.put(metaNull, at: end)
        _ = Self.put(lineEnd, at: end)
        initialized = count
      }
    }
  }

  /// Appends `parent_id` and `root_id`, only on lines of tasks found
  /// through `--children`: lines of given ids keep their fields.
  private mutating func appendLineage(of change: StateChange) {
    guard let parentID = change.parentID, let rootID = change.rootID else { return }
    append(#","parent_id":"#)
    JSONText.appendString(parentID, to: &buffer)
    append(#","root_id":"#)
    JSONText.appendString(rootID, to: &buffer)
  }

  /// Appends the `{"type":"unreadable",…}` line of a task whose stored result
  /// can never be read: its id, the serializer or compression when that is
  /// the cause, the reason, the fix, and where and when it was read.
  private mutating func writeUnreadable(_ change: StateChange, _ reason: DecodeError) {
    append(#"{"type":"unreadable","task_id":"#)
    JSONText.appendID(of: change, to: &buffer)
    appendLineage(of: change)
    if let serializer = reason.serializer {
      append(#","serializer":"#)
      JSONText.appendString(serializer, to: &buffer)
    }
    if let compression = reason.compression {
      append(#","compression":"#)
      JSONText.appendString(compression, to: &buffer)
    }
    append(#","reason":"#)
    JSONText.appendString(reason.problem, to: &buffer)
    append(#","fix":"#)
    JSONText.appendString(reason.fix, to: &buffer)
    append(#","previous":"#)
    if let previous = change.previous {
      JSONText.appendString(previous.name, to: &buffer)
    } else {
      append("null")
    }
    buffer.append(contentsOf: Array(#","ready":true,"source":""#.utf8) + Array(change.source.rawValue.utf8))
    append(#"","observed_at":"#)
    timestamps.appendQuoted(change.observedAt, to: &buffer)
    append("}\n")
  }

  /// `,"state":…,"previous":…,"ready":…,"source":"…","observed_at":`
  private static func transitionText(_ change: StateChange) -> [UInt8] {
    var text = Array(#","state":"#.utf8)
    JSONText.appendString(change.state.name, to: &text)
    text += Array(#","previous":"#.utf8)
    if let previous = change.previous {
      JSONText.appendString(previous.name, to: &text)
    } else {
      text += Array("null".utf8)
    }
    text += Array((change.isReady ? #","ready":true"# : #","ready":false"#).utf8)
    text += Array(#","source":""#.utf8) + Array(change.source.rawValue.utf8) + Array(#"","observed_at":"#.utf8)
    return text
  }

  /// Copies `bytes` to `end` and returns the end of the copy.
  private static func put(_ bytes: [UInt8], at end: UnsafeMutableRawPointer) -> UnsafeMutableRawPointer {
    bytes.withUnsafeBytes { bytes in
      guard let base = bytes.baseAddress else { return end }
      end.copyMemory(from: base, byteCount: bytes.count)
      return end + bytes.count
    }
  }

  /// Copies a literal's bytes to `end` and returns the end of the copy.
  private static func put(_ literal: StaticString, at end: UnsafeMutableRawPointer) -> UnsafeMutableRawPointer {
    end.copyMemory(from: literal.utf8Start, byteCount: literal.utf8CodeUnitCount)
    return end + literal.utf8CodeUnitCount
  }

  /// Appends a literal's bytes in one copy (appending a `String`'s `utf8`
  /// view went through the generic path: ~300 instructions a piece).
  private mutating func append(_ literal: StaticString) {
    buffer.append(contentsOf: UnsafeBufferPointer(start: literal.utf8Start, count: literal.utf8CodeUnitCount))
  }

  /// Appends a line that is already JSON (the summary).
  mutating func writeLine(_ json: [UInt8]) {
    buffer.append(contentsOf: json)
    buffer.append(UInt8(ascii: "\n"))
  }

  /// The bytes not yet flushed (for tests of the line format).
  var bufferedForTesting: [UInt8] { buffer }

  /// Writes what is buffered.
  /// - Throws: ``StandardStreams/OutputClosed`` when the reader is gone (now
  ///   or when an earlier chunk was written).
  mutating func flush() throws(StandardStreams.OutputClosed) {
    writeBuffer()
    if outputClosed { throw StandardStreams.OutputClosed() }
  }

  private mutating func writeBuffer() {
    defer { buffer.removeAll(keepingCapacity: true) }
    guard !buffer.isEmpty, !outputClosed else { return }
    do {
      try StandardStreams.writeAll(buffer, to: descriptor)
    } catch {
      outputClosed = true
    }
  }
}

/// JSON text building blocks for the writers.
enum JSONText {
  /// Appends a change's task id as a JSON string literal: a uuid formatted
  /// straight into the line (hex and hyphens need no escaping), any other id
  /// as escaped text.
  static func appendID(of change: borrowing StateChange, to buffer: inout [UInt8]) {
    guard change.taskIDIsUUID else { return appendString(change.taskID, to: &buffer) }
    buffer.append(UInt8(ascii: "\""))
    change.appendTaskID(to: &buffer)
    buffer.append(UInt8(ascii: "\""))
  }

  /// Appends `text` as a JSON string literal, escaping what JSON requires.
  static func appendString(_ text: String, to buffer: inout [UInt8]) {
    buffer.append(UInt8(ascii: "\""))
    // Task ids and state names never need escaping: copy them in one go.
    let copied = text.utf8.withContiguousStorageIfAvailable { bytes in
      guard !needsEscaping(bytes) else { return false }
      buffer.append(contentsOf: bytes)
      return true
    }
    if copied == true {
      buffer.append(UInt8(ascii: "\""))
      return
    }
    for byte in text.utf8 {
      switch byte {
      case UInt8(ascii: "\""): buffer.append(contentsOf: #"\""#.utf8)
      case UInt8(ascii: "\\"): buffer.append(contentsOf: #"\\"#.utf8)
      case 0x0A: buffer.append(contentsOf: #"\n"#.utf8)
      case 0x0D: buffer.append(contentsOf: #"\r"#.utf8)
      case 0x09: buffer.append(contentsOf: #"\t"#.utf8)
      case 0..<0x20:
        let hex = Array("0123456789abcdef".utf8)
        buffer.append(contentsOf: #"\u00"#.utf8)
        buffer.append(hex[Int(byte >> 4)])
        buffer.append(hex[Int(byte & 0xF)])
      default: buffer.append(byte)
      }
    }
    buffer.append(UInt8(ascii: "\""))
  }

  /// Whether any byte is a quote, a backslash or a control byte, tested 8
  /// bytes at a time (the "has a zero byte" / "has a byte below n" word
  /// tests): with `contains(where:)`, appending a task id cost 428
  /// instructions a line at S4; 335 this way, 161 of them here.
  static func needsEscaping(_ bytes: UnsafeBufferPointer<UInt8>) -> Bool {
    guard let base = bytes.baseAddress else { return false }
    let ones: UInt64 = 0x0101_0101_0101_0101
    let highBits: UInt64 = 0x8080_8080_8080_8080
    var offset = 0
    while bytes.count - offset >= 8 {
      let word = UInt64(littleEndian: UnsafeRawPointer(base + offset).loadUnaligned(as: UInt64.self))
      let quote = word ^ (ones &* UInt64(UInt8(ascii: "\"")))
      let backslash = word ^ (ones &* UInt64(UInt8(ascii: "\\")))
      let special = ((quote &- ones) & ~quote) | ((backslash &- ones) & ~backslash) | ((word &- ones &* 0x20) & ~word)
      if special & highBits != 0 { return true }
      offset += 8
    }
    while offset < bytes.count {
      let byte = base[offset]
      if byte < 0x20 || byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\") { return true }
      offset += 1
    }
    return false
  }
}
