/// A parsed JSON document, for the small payloads read in full (saved
/// groups, and a meta's `result` in the human view). The consumer never
/// parses task metas with it: they are scanned, not parsed (`JSONScanner`).
public enum JSONTree: Sendable {
  /// An object's members, in document order.
  case object([(key: String, value: JSONTree)])
  /// An array's elements.
  case array([JSONTree])
  /// A string, unescaped.
  case string(String)
  /// A number, as its text.
  case number(String)
  /// `true` or `false`.
  case bool(Bool)
  /// `null`.
  case null

  /// Deepest nesting accepted, as for task metas.
  static let maximumDepth = 512

  /// Parses one JSON document (RFC 8259; whitespace around it allowed).
  /// - Throws: ``DecodeError/invalidJSON(_:)``.
  public static func parse(_ bytes: [UInt8]) throws(DecodeError) -> JSONTree {
    var parser = Parser(bytes: bytes)
    let tree = try parser.value(depth: 0)
    parser.skipWhitespace()
    guard parser.index == bytes.count else { throw parser.failure("unexpected bytes after the document") }
    return tree
  }

  /// The value of the first member named `key`, when this is an object.
  public subscript(key: String) -> JSONTree? {
    guard case .object(let members) = self else { return nil }
    return members.first(where: { $0.key == key })?.value
  }

  private struct Parser {
    let bytes: [UInt8]
    var index = 0

    mutating func value(depth: Int) throws(DecodeError) -> JSONTree {
      skipWhitespace()
      guard index < bytes.count else { throw failure("unexpected end") }
      switch bytes[index] {
      case UInt8(ascii: "{"): return try object(depth: depth)
      case UInt8(ascii: "["): return try array(depth: depth)
      case UInt8(ascii: "\""): return .string(try string())
      case UInt8(ascii: "t"): return try literal("true", .bool(true))
      case UInt8(ascii: "f"): return try literal("false", .bool(false))
      case UInt8(ascii: "n"): return try literal("null", .null)
      case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return try number()
      default: throw failure("unexpected character")
      }
    }

    private mutating func object(depth: Int) throws(DecodeError) -> JSONTree {
      guard depth < JSONTree.maximumDepth else { throw failure("nested too deeply") }
      index += 1
      var members = [(key: String, value: JSONTree)]()
      skipWhitespace()
      if peek() == UInt8(ascii: "}") {
        index += 1
        return .object(members)
      }
      while true {
        skipWhitespace()
        guard peek() == UInt8(ascii: "\"") else { throw failure("expected a member name") }
        let key = try string()
        skipWhitespace()
        guard peek() == UInt8(ascii: ":") else { throw failure("expected ':'") }
        index += 1
        members.append((key, try value(depth: depth + 1)))
        skipWhitespace()
        switch peek() {
        case UInt8(ascii: ","): index += 1
        case UInt8(ascii: "}"):
          index += 1
          return .object(members)
        default: throw failure("expected ',' or '}'")
        }
      }
    }

    private mutating func array(depth: Int) throws(DecodeError) -> JSONTree {
      guard depth < JSONTree.maximumDepth else { throw failure("nested too deeply") }
      index += 1
      var elements = [JSONTree]()
      skipWhitespace()
      if peek() == UInt8(ascii: "]") {
        index += 1
        return .array(elements)
      }
      while true {
        elements.append(try value(depth: depth + 1))
        skipWhitespace()
        switch peek() {
        case UInt8(ascii: ","): index += 1
        case UInt8(ascii: "]"):
          index += 1
          return .array(elements)
        default: throw failure("expected ',' or ']'")
        }
      }
    }

    private mutating func string() throws(DecodeError) -> String {
      index += 1
      var scalars = String.UnicodeScalarView()
      var plainStart = index
      func flushPlain(upTo end: Int) {
        scalars.append(contentsOf: String(decoding: bytes[plainStart..<end], as: UTF8.self).unicodeScalars)
      }
      while index < bytes.count {
        let byte = bytes[index]
        if byte == UInt8(ascii: "\"") {
          flushPlain(upTo: index)
          index += 1
          return String(scalars)
        }
        guard byte >= 0x20 else { throw failure("control character in a string") }
        guard byte == UInt8(ascii: "\\") else {
          index += 1
          continue
        }
        flushPlain(upTo: index)
        scalars.append(try escape())
        plainStart = index
      }
      throw failure("unterminated string")
    }

    /// One escape sequence, with a UTF-16 surrogate pair read as one scalar.
    private mutating func escape() throws(DecodeError) -> Unicode.Scalar {
      guard index + 1 < bytes.count else { throw failure("unterminated string") }
      let escaped = bytes[index + 1]
      index += 2
      switch escaped {
      case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): return Unicode.Scalar(escaped)
      case UInt8(ascii: "b"): return "\u{08}"
      case UInt8(ascii: "f"): return "\u{0C}"
      case UInt8(ascii: "n"): return "\n"
      case UInt8(ascii: "r"): return "\r"
      case UInt8(ascii: "t"): return "\t"
      case UInt8(ascii: "u"):
        let unit = try hexUnit()
        if (0xD800...0xDBFF).contains(unit), bytes[index...].starts(with: Array(#"\u"#.utf8)) {
          let saved = index
          index += 2
          let low = try hexUnit()
          if (0xDC00...0xDFFF).contains(low) {
            return Unicode.Scalar(0x10000 + ((unit - 0xD800) << 10) + (low - 0xDC00)) ?? "\u{FFFD}"
          }
          index = saved
        }
        return Unicode.Scalar(unit) ?? "\u{FFFD}"
      default: throw failure("invalid escape")
      }
    }

    private mutating func hexUnit() throws(DecodeError) -> UInt32 {
      guard index + 4 <= bytes.count,
        let unit = UInt32(String(decoding: bytes[index..<(index + 4)], as: UTF8.self), radix: 16)
      else { throw failure("invalid \\u escape") }
      index += 4
      return unit
    }

    private mutating func number() throws(DecodeError) -> JSONTree {
      let start = index
      if peek() == UInt8(ascii: "-") { index += 1 }
      let integerStart = index
      let integerDigits = digits()
      guard integerDigits > 0 else { throw failure("invalid number") }
      guard integerDigits == 1 || bytes[integerStart] != UInt8(ascii: "0") else {
        throw failure("leading zero in a number")
      }
      if peek() == UInt8(ascii: ".") {
        index += 1
        guard digits() > 0 else { throw failure("invalid number") }
      }
      if peek() == UInt8(ascii: "e") || peek() == UInt8(ascii: "E") {
        index += 1
        if peek() == UInt8(ascii: "+") || peek() == UInt8(ascii: "-") { index += 1 }
        guard digits() > 0 else { throw failure("invalid number") }
      }
      return .number(String(decoding: bytes[start..<index], as: UTF8.self))
    }

    private mutating func digits() -> Int {
      let start = index
      while let byte = peek(), (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) { index += 1 }
      return index - start
    }

    private mutating func literal(_ text: String, _ tree: JSONTree) throws(DecodeError) -> JSONTree {
      guard bytes[index...].starts(with: text.utf8) else { throw failure("invalid literal") }
      index += text.utf8.count
      return tree
    }

    mutating func skipWhitespace() {
      while let byte = peek(), byte == 0x20 || byte == 0x09 || byte == 0x0A || byte == 0x0D { index += 1 }
    }

    private func peek() -> UInt8? {
      index < bytes.count ? bytes[index] : nil
    }

    func failure(_ what: String) -> DecodeError {
      .invalidJSON("\(what) at offset \(index)")
    }
  }
}
