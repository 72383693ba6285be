/// A single-pass JSON validator that finds the few top-level members the
/// consumer needs, without building a document tree.
///
/// Celery payloads are forwarded to the output as the bytes Celery stored, so
/// decoding the whole meta would be wasted work: the state machine needs only
/// `status` and `task_id`. What is forwarded must be strict JSON, so the
/// scanner checks RFC 8259's grammar in full (numbers without leading zeros,
/// escapes, no control characters in strings) and accepts only one extension,
/// Python's `NaN`, `Infinity` and `-Infinity` tokens, which it reports so the
/// caller can rewrite them into strings. It also reports lone UTF-16
/// surrogate escapes (`"\ud83d"`), which strict parsers such as jq refuse,
/// so the caller can replace them with U+FFFD.
///
/// Containers nest as deep as the input allows: the open ones are kept on an
/// explicit stack of bits, not on the call stack, so no depth that Python's
/// `json` can write is refused.
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
    /// True when the bytes hold `NaN`/`Infinity` tokens, lone surrogate
    /// escapes or line breaks between tokens, so they must be rewritten
    /// before going out as one NDJSON line.
    var needsRewrite = false
    /// True when a string holds a byte ≥ 0x80 (UTF-8 must be checked).
    var hasNonASCII = false
  }

  /// The containers open around the scanning position, innermost last, one
  /// bit each (1 for an object): the innermost 64 in a word, the rest
  /// spilled to an array, so the usual shallow meta allocates nothing.
  private struct NestingStack {
    private(set) var depth = 0
    private var bits: UInt64 = 0
    private var spilled: [UInt64] = []

    var innermostIsObject: Bool { bits & 1 == 1 }

    mutating func push(object: Bool) {
      if depth > 0 && depth % 64 == 0 {
        spilled.append(bits)
        bits = 0
      }
      bits = bits << 1 | (object ? 1 : 0)
      depth += 1
    }

    mutating func pop() {
      bits >>= 1
      depth -= 1
      if depth > 0 && depth % 64 == 0 { bits = spilled.removeLast() }
    }
  }

  private let bytes: UnsafeBufferPointer<UInt8>
  private var index = 0
  private var outcome = Outcome()
  private var nesting = NestingStack()

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

  /// Validates `bytes` as one JSON document of any kind (whitespace around
  /// it allowed), by the same rules.
  /// - Throws: ``DecodeError/invalidJSON(_:)``.
  static func validate(_ bytes: UnsafeBufferPointer<UInt8>) throws(DecodeError) -> Outcome {
    var scanner = JSONScanner(bytes)
    scanner.skipWhitespace()
    try scanner.scanValue()
    scanner.skipWhitespace()
    guard scanner.index == bytes.count else { throw scanner.failure("unexpected data after the document") }
    return scanner.outcome
  }

  private mutating func scanDocument(recordMembers: Bool) throws(DecodeError) {
    skipWhitespace()
    guard index < bytes.count else { throw .invalidJSON("empty payload") }
    guard bytes[index] == UInt8(ascii: "{") else {
      try scanValue()
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
        // Python's json writes `": "` and `", "`: both taken in one test.
        if !skipSeparator(UInt8(ascii: ":")) {
          skipWhitespace()
          guard peek() == UInt8(ascii: ":") else { throw failure("expected ':'") }
          index += 1
          skipWhitespace()
        }
        let valueStart = index
        try scanValue()
        let value = valueStart..<index
        record(key: key, value: value)
        if recordMembers { outcome.members.append(Member(key: key, span: keyStart..<index, value: value)) }
        if skipSeparator(UInt8(ascii: ",")) { continue }
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

  /// `separator`, one space and a byte that is no blank, as Python's `json`
  /// writes them between tokens: skips the separator and the space and
  /// returns `true`; otherwise moves nothing (the caller takes the general way).
  @inline(__always)
  private mutating func skipSeparator(_ separator: UInt8) -> Bool {
    guard bytes.count - index >= 3, let base = bytes.baseAddress,
      UnsafeRawPointer(base + index).loadUnaligned(as: UInt16.self)
        == UInt16(littleEndian: UInt16(separator) | UInt16(UInt8(ascii: " ")) << 8),
      base[index + 2] > UInt8(ascii: " ")
    else { return false }
    index += 2
    return true
  }

  /// `"status"` with its quotes, as a little-endian word (a literal: a
  /// `static let` is a lazy global, checked on every read).
  private static var statusKey: UInt64 { 0x2273_7574_6174_7322 }
  /// The first 8 bytes of `"task_id"` (quotes included), as a little-endian word.
  private static var taskIDKeyStart: UInt64 { 0x6469_5f6b_7361_7422 }

  /// Notes the member if it is `status` or `task_id`. Keys are compared as
  /// one word (two for `task_id`) instead of byte by byte through
  /// `StaticString`: 813 → 194 instructions per payload at S4.
  @inline(__always)
  private mutating func record(key: Range<Int>, value: Range<Int>) {
    let isString = bytes[value.lowerBound] == UInt8(ascii: "\"")
    guard let base = bytes.baseAddress, key.count == 8 || key.count == 9 else { return }
    let start = UnsafeRawPointer(base + key.lowerBound).loadUnaligned(as: UInt64.self)
    if key.count == 8, start == Self.statusKey {
      if isString { outcome.status = value } else { outcome.statusIsNotString = true }
    } else if key.count == 9, start == Self.taskIDKeyStart, bytes[key.lowerBound + 8] == UInt8(ascii: "\""), isString {
      outcome.taskID = value
    }
  }

  private func peek() -> UInt8? {
    index < bytes.count ? bytes[index] : nil
  }

  private func failure(_ what: String) -> DecodeError {
    index < bytes.count
      ? .invalidJSON("\(what) at byte \(index)") : .invalidJSON("\(what), but the payload ended")
  }

  /// Skips blanks. Inlined for its usual outcome, no blank or one space
  /// before the next token: out of line it cost 717 instructions per payload
  /// at S4; inlined, its callers grew by ~310.
  @inline(__always)
  private mutating func skipWhitespace() {
    guard index < bytes.count, bytes[index] <= UInt8(ascii: " ") else { return }
    if bytes[index] == UInt8(ascii: " "), index + 1 < bytes.count, bytes[index + 1] > UInt8(ascii: " ") {
      index += 1
      return
    }
    skipBlanks()
  }

  private mutating func skipBlanks() {
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

  /// Scans one value, containers and all, starting at a non-blank byte; the
  /// containers it opens are tracked in ``nesting``, not by recursion.
  private mutating func scanValue() throws(DecodeError) {
    while true {
      guard let byte = peek() else { throw failure("expected a value") }
      switch byte {
      case UInt8(ascii: "{"):
        index += 1
        skipWhitespace()
        if peek() == UInt8(ascii: "}") {
          index += 1
        } else {
          nesting.push(object: true)
          try scanMemberName()
          continue
        }
      case UInt8(ascii: "["):
        index += 1
        skipWhitespace()
        if peek() == UInt8(ascii: "]") {
          index += 1
        } else {
          nesting.push(object: false)
          continue
        }
      case UInt8(ascii: "\""):
        try scanString()
      case UInt8(ascii: "t"):
        try scanCommonLiteral("true", word: Self.trueWord, count: 4)
      case UInt8(ascii: "f"):
        try scanCommonLiteral("false", word: Self.falseWord, count: 5)
      case UInt8(ascii: "n"):
        try scanCommonLiteral("null", word: Self.nullWord, count: 4)
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
      // A value ended: close the containers it completes, then go on to the
      // next element, or return when none is open.
      while nesting.depth > 0 {
        if skipSeparator(UInt8(ascii: ",")) {
          if nesting.innermostIsObject { try scanMemberName() }
          break
        }
        skipWhitespace()
        guard let next = peek() else { throw failure("unterminated container") }
        let inObject = nesting.innermostIsObject
        index += 1
        if next == UInt8(ascii: ",") {
          skipWhitespace()
          if inObject { try scanMemberName() }
          break
        }
        guard next == (inObject ? UInt8(ascii: "}") : UInt8(ascii: "]")) else {
          index -= 1
          throw failure(inObject ? "expected ',' or '}'" : "expected ',' or ']'")
        }
        nesting.pop()
      }
      if nesting.depth == 0 { return }
    }
  }

  /// A member name and its colon, up to the value.
  private mutating func scanMemberName() throws(DecodeError) {
    guard peek() == UInt8(ascii: "\"") else { throw failure("expected a member name") }
    try scanString()
    if skipSeparator(UInt8(ascii: ":")) { return }
    skipWhitespace()
    guard peek() == UInt8(ascii: ":") else { throw failure("expected ':'") }
    index += 1
    skipWhitespace()
  }

  /// A string from its opening quote. Most strings hold nothing to look at
  /// closely: their closing quote is found 8 bytes at a time
  /// (``plainWordsEnd(from:)``), and anything else goes on in
  /// ``scanStringRest()``.
  @inline(__always)
  private mutating func scanString() throws(DecodeError) {
    let position = plainWordsEnd(from: index + 1)
    if position < bytes.count, bytes[position] == UInt8(ascii: "\"") {
      index = position + 1
      return
    }
    index = position
    try scanStringRest()
  }

  /// The rest of a string from `index`, inside it, byte by byte where a
  /// byte needs a closer look (escapes, control bytes, UTF-8).
  private mutating func scanStringRest() throws(DecodeError) {
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
          guard let unit = JSONString.hexUnit(bytes, at: index + 2) else { throw failure("bad \\u escape") }
          if (0xD800...0xDFFF).contains(unit) {
            // A high surrogate followed by a low one is a pair; anything
            // else is lone, and goes out as U+FFFD.
            if unit < 0xDC00, JSONString.lowSurrogate(bytes, at: index + 6) != nil {
              index += 6
            } else {
              outcome.needsRewrite = true
            }
          }
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

  /// Skips the bytes of a string that need no closer look (see ``plainWordsEnd(from:)``).
  private mutating func skipPlainWords() {
    index = plainWordsEnd(from: index)
  }

  /// Where the bytes of a string from `start` that need no closer look end,
  /// 8 at a time: at the first quote, backslash or control byte, or byte
  /// ≥ 0x80 unless one was already seen, or where fewer than 8 bytes are
  /// left. The position is kept in a local, not in `index` (stored once by
  /// the caller). Strings are most of a payload's bytes.
  @inline(__always)
  private func plainWordsEnd(from start: Int) -> Int {
    let ones: UInt64 = 0x0101_0101_0101_0101
    let highBits: UInt64 = 0x8080_8080_8080_8080
    let watched = outcome.hasNonASCII ? 0 : highBits
    guard let base = bytes.baseAddress else { return start }
    var position = start
    while bytes.count - position >= 8 {
      let word = UInt64(littleEndian: UnsafeRawPointer(base + position).loadUnaligned(as: UInt64.self))
      let quote = word ^ (ones &* UInt64(UInt8(ascii: "\"")))
      let backslash = word ^ (ones &* UInt64(UInt8(ascii: "\\")))
      // Each term's lowest set bit marks its first matching byte exactly
      // (the classic "has a zero byte" / "has a byte below n" tests).
      let special =
        (((quote &- ones) & ~quote) | ((backslash &- ones) & ~backslash) | ((word &- ones &* 0x20) & ~word)
          | (word & watched)) & highBits
      if special != 0 { return position + special.trailingZeroBitCount / 8 }
      position += 8
    }
    return position
  }

  /// `null`, `true` and `false` as little-endian words, for
  /// ``scanCommonLiteral(_:word:count:)`` (literals, like ``statusKey``).
  private static var nullWord: UInt64 { 0x6c6c_756e }
  private static var trueWord: UInt64 { 0x6575_7274 }
  private static var falseWord: UInt64 { 0x65_736c_6166 }

  /// `null`, `true` or `false` (the first letter seen): one word compared
  /// when 8 bytes remain, instead of a `StaticString` loop (276 instructions
  /// per payload at S4, now inlined into `scanValue`).
  @inline(__always)
  private mutating func scanCommonLiteral(_ literal: StaticString, word: UInt64, count: Int) throws(DecodeError) {
    guard bytes.count - index >= 8, let base = bytes.baseAddress else { return try scanLiteral(literal) }
    let loaded = UnsafeRawPointer(base + index).loadUnaligned(as: UInt64.self)
    let mask: UInt64 = count == 4 ? 0xFFFF_FFFF : 0xFF_FFFF_FFFF
    guard loaded & mask == word else { throw failure("unexpected token") }
    index += count
  }

  private mutating func scanLiteral(_ literal: StaticString) throws(DecodeError) {
    let count = literal.utf8CodeUnitCount
    guard index + count <= bytes.count else { throw failure("unexpected token") }
    for offset in 0..<count where bytes[index + offset] != literal.utf8Start[offset] {
      throw failure("unexpected token")
    }
    index += count
  }

  /// RFC 8259's number: `-`? (`0` | [1-9][0-9]*) (`.` [0-9]+)? ([eE] [+-]? [0-9]+)?
  private mutating func scanNumber() throws(DecodeError) {
    let start = index
    if peek() == UInt8(ascii: "-") { index += 1 }
    guard let first = peek(), Self.isDigit(first) else {
      throw failure(index == start ? "expected a value" : "bad number")
    }
    index += 1
    if first == UInt8(ascii: "0") {
      if let next = peek(), Self.isDigit(next) { throw failure("leading zero in a number") }
    } else {
      _ = scanDigits()
    }
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
    while let byte = peek(), Self.isDigit(byte) { index += 1 }
    return index > start
  }

  private static func isDigit(_ byte: UInt8) -> Bool {
    byte &- UInt8(ascii: "0") < 10
  }
}
