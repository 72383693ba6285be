/// A single-pass JSON validator that finds the few top-level members the
/// consumer needs, without building a document tree.
///
/// Celery payloads are forwarded to the output as the bytes Celery stored, so
/// decoding the whole meta would be wasted work: the state machine needs only
/// `status` and `task_id`. The scanner also accepts Python's non-standard
/// `NaN`, `Infinity` and `-Infinity` tokens and reports them, so the caller can
/// rewrite them into strings and keep every output line valid JSON.
struct JSONScanner {
  /// A member of the top-level object: the span from its key's opening quote
  /// to the end of its value, and the span of the value alone.
  struct Member {
    var key: Range<Int>
    var span: Range<Int>
    var value: Range<Int>
  }

  /// What a scan found.
  struct Outcome {
    /// The `status` member's string value (quotes included), if present.
    var status: Range<Int>?
    /// Whether `status` is present but not a string.
    var statusIsNotString = false
    /// The `task_id` member's string value (quotes included), if present.
    var taskID: Range<Int>?
    /// Every top-level member, only when asked for.
    var members: [Member] = []
    /// True when the bytes hold `NaN`/`Infinity` tokens or line breaks between
    /// tokens, so they must be rewritten before going out as one NDJSON line.
    var needsRewrite = false
    /// True when a string holds a byte ≥ 0x80 (UTF-8 must be checked).
    var hasNonASCII = false
  }

  private let bytes: UnsafeBufferPointer<UInt8>
  private var index = 0
  private var outcome = Outcome()
  private static let maximumDepth = 512

  private init(_ bytes: UnsafeBufferPointer<UInt8>) {
    self.bytes = bytes
  }

  /// Validates `bytes` as one JSON object and locates its members of interest.
  /// - Parameter recordMembers: also list every top-level member (for rewriting).
  /// - Throws: ``DecodeError/invalidJSON(_:)`` or ``DecodeError/notTaskMeta(_:)``.
  static func scan(_ bytes: UnsafeBufferPointer<UInt8>, recordMembers: Bool = false) throws(DecodeError)
    -> Outcome
  {
    var scanner = JSONScanner(bytes)
    try scanner.scanDocument(recordMembers: recordMembers)
    return scanner.outcome
  }

  private mutating func scanDocument(recordMembers: Bool) throws(DecodeError) {
    skipWhitespace()
    guard index < bytes.count else { throw .invalidJSON("empty payload") }
    guard bytes[index] == UInt8(ascii: "{") else {
      try scanValue(depth: 0)
      throw .notTaskMeta("it is JSON but not an object")
    }
    index += 1
    skipWhitespace()
    if peek() == UInt8(ascii: "}") {
      index += 1
    } else {
      while true {
        skipWhitespace()
        guard peek() == UInt8(ascii: "\"") else { throw failure("expected a member name") }
        let keyStart = index
        try scanString()
        let key = keyStart..<index
        skipWhitespace()
        guard peek() == UInt8(ascii: ":") else { throw failure("expected ':'") }
        index += 1
        skipWhitespace()
        let valueStart = index
        try scanValue(depth: 1)
        let value = valueStart..<index
        record(key: key, value: value)
        if recordMembers { outcome.members.append(Member(key: key, span: keyStart..<index, value: value)) }
        skipWhitespace()
        if peek() == UInt8(ascii: ",") {
          index += 1
          continue
        }
        guard peek() == UInt8(ascii: "}") else { throw failure("expected ',' or '}'") }
        index += 1
        break
      }
    }
    skipWhitespace()
    guard index == bytes.count else { throw failure("unexpected data after the object") }
  }

  private mutating func record(key: Range<Int>, value: Range<Int>) {
    let isString = bytes[value.lowerBound] == UInt8(ascii: "\"")
    if matches(key, "status") {
      if isString { outcome.status = value } else { outcome.statusIsNotString = true }
    } else if matches(key, "task_id"), isString {
      outcome.taskID = value
    }
  }

  /// Compares a quoted key with a plain ASCII name (escaped keys never match).
  private func matches(_ key: Range<Int>, _ name: StaticString) -> Bool {
    guard key.count == name.utf8CodeUnitCount + 2 else { return false }
    let start = name.utf8Start
    for offset in 0..<name.utf8CodeUnitCount where bytes[key.lowerBound + 1 + offset] != start[offset] {
      return false
    }
    return true
  }

  private func peek() -> UInt8? {
    index < bytes.count ? bytes[index] : nil
  }

  private func failure(_ what: String) -> DecodeError {
    index < bytes.count
      ? .invalidJSON("\(what) at byte \(index)") : .invalidJSON("\(what), but the payload ended")
  }

  private mutating func skipWhitespace() {
    while index < bytes.count {
      switch bytes[index] {
      case UInt8(ascii: " "), UInt8(ascii: "\t"):
        index += 1
      case UInt8(ascii: "\n"), UInt8(ascii: "\r"):
        outcome.needsRewrite = true
        index += 1
      default:
        return
      }
    }
  }

  private mutating func scanValue(depth: Int) throws(DecodeError) {
    guard depth < Self.maximumDepth else { throw failure("nesting deeper than \(Self.maximumDepth)") }
    guard let byte = peek() else { throw failure("expected a value") }
    switch byte {
    case UInt8(ascii: "\""):
      try scanString()
    case UInt8(ascii: "{"):
      try scanContainer(depth: depth, close: UInt8(ascii: "}"), keyed: true)
    case UInt8(ascii: "["):
      try scanContainer(depth: depth, close: UInt8(ascii: "]"), keyed: false)
    case UInt8(ascii: "t"):
      try scanLiteral("true")
    case UInt8(ascii: "f"):
      try scanLiteral("false")
    case UInt8(ascii: "n"):
      try scanLiteral("null")
    case UInt8(ascii: "N"):
      try scanLiteral("NaN")
      outcome.needsRewrite = true
    case UInt8(ascii: "I"):
      try scanLiteral("Infinity")
      outcome.needsRewrite = true
    case UInt8(ascii: "-") where index + 1 < bytes.count && bytes[index + 1] == UInt8(ascii: "I"):
      index += 1
      try scanLiteral("Infinity")
      outcome.needsRewrite = true
    default:
      try scanNumber()
    }
  }

  private mutating func scanContainer(depth: Int, close: UInt8, keyed: Bool) throws(DecodeError) {
    index += 1
    skipWhitespace()
    if peek() == close {
      index += 1
      return
    }
    while true {
      skipWhitespace()
      if keyed {
        guard peek() == UInt8(ascii: "\"") else { throw failure("expected a member name") }
        try scanString()
        skipWhitespace()
        guard peek() == UInt8(ascii: ":") else { throw failure("expected ':'") }
        index += 1
        skipWhitespace()
      }
      try scanValue(depth: depth + 1)
      skipWhitespace()
      guard let next = peek() else { throw failure("unterminated container") }
      index += 1
      if next == close { return }
      guard next == UInt8(ascii: ",") else { throw failure("expected ','") }
    }
  }

  private mutating func scanString() throws(DecodeError) {
    index += 1
    while index < bytes.count {
      skipPlainWords()
      guard index < bytes.count else { break }
      let byte = bytes[index]
      if byte == UInt8(ascii: "\"") {
        index += 1
        return
      }
      if byte == UInt8(ascii: "\\") {
        guard index + 1 < bytes.count else { break }
        let escaped = bytes[index + 1]
        if escaped == UInt8(ascii: "u") {
          guard index + 5 < bytes.count,
            (2...5).allSatisfy({ Self.isHexDigit(bytes[index + $0]) })
          else { throw failure("bad \\u escape") }
          index += 6
          continue
        }
        guard "\"\\/bfnrt".utf8.contains(escaped) else { throw failure("bad escape") }
        index += 2
        continue
      }
      if byte < 0x20 { throw failure("control character in a string") }
      if byte >= 0x80 { outcome.hasNonASCII = true }
      index += 1
    }
    throw failure("unterminated string")
  }

  /// Skips the bytes of a string that need no closer look, 8 at a time: up to
  /// the first quote, backslash or control byte, or byte ≥ 0x80 unless one was
  /// already seen. Strings are most of a payload's bytes.
  private mutating func skipPlainWords() {
    let ones: UInt64 = 0x0101_0101_0101_0101
    let highBits: UInt64 = 0x8080_8080_8080_8080
    let watched = outcome.hasNonASCII ? 0 : highBits
    guard let base = bytes.baseAddress else { return }
    while bytes.count - index >= 8 {
      let word = UInt64(littleEndian: UnsafeRawPointer(base + index).loadUnaligned(as: UInt64.self))
      let quote = word ^ (ones &* UInt64(UInt8(ascii: "\"")))
      let backslash = word ^ (ones &* UInt64(UInt8(ascii: "\\")))
      // Each term's lowest set bit marks its first matching byte exactly
      // (the classic "has a zero byte" / "has a byte below n" tests).
      let special =
        (((quote &- ones) & ~quote) | ((backslash &- ones) & ~backslash) | ((word &- ones &* 0x20) & ~word)
          | (word & watched)) & highBits
      guard special == 0 else {
        index += special.trailingZeroBitCount / 8
        return
      }
      index += 8
    }
  }

  private mutating func scanLiteral(_ literal: StaticString) throws(DecodeError) {
    let count = literal.utf8CodeUnitCount
    guard index + count <= bytes.count else { throw failure("unexpected token") }
    for offset in 0..<count where bytes[index + offset] != literal.utf8Start[offset] {
      throw failure("unexpected token")
    }
    index += count
  }

  private mutating func scanNumber() throws(DecodeError) {
    let start = index
    if peek() == UInt8(ascii: "-") { index += 1 }
    guard scanDigits() else { throw failure(index == start ? "expected a value" : "bad number") }
    if peek() == UInt8(ascii: ".") {
      index += 1
      guard scanDigits() else { throw failure("bad number") }
    }
    if peek() == UInt8(ascii: "e") || peek() == UInt8(ascii: "E") {
      index += 1
      if peek() == UInt8(ascii: "+") || peek() == UInt8(ascii: "-") { index += 1 }
      guard scanDigits() else { throw failure("bad number") }
    }
  }

  private mutating func scanDigits() -> Bool {
    let start = index
    while let byte = peek(), byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9") { index += 1 }
    return index > start
  }

  private static func isHexDigit(_ byte: UInt8) -> Bool {
    (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte)
      || (UInt8(ascii: "a")...UInt8(ascii: "f")).contains(byte)
      || (UInt8(ascii: "A")...UInt8(ascii: "F")).contains(byte)
  }
}
