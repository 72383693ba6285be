/// A strict RFC 8259 checker, written apart from the library's `JSONScanner`
/// so the oracle does not share the scanner's mistakes.
///
/// Strict means what `json.loads(…, parse_constant=reject)` and `jq` accept:
/// no `NaN`/`Infinity`, no leading zeros, no raw control characters in
/// strings, only the eight escapes and `\uXXXX`, valid UTF-8, one value with
/// only whitespace around it. Nesting is tracked with an explicit stack, so any
/// depth is checked without recursion.
public enum StrictJSON {
  /// Whether `bytes` is exactly one strict JSON value.
  public static func isValid(_ bytes: some Collection<UInt8>) -> Bool {
    var checker = Checker(Array(bytes))
    return checker.document()
  }

  /// Whether `bytes` is one strict JSON object (what every NDJSON line is).
  public static func isObject(_ bytes: some Collection<UInt8>) -> Bool {
    let array = Array(bytes)
    guard let first = array.first(where: { !Checker.isWhitespace($0) }), first == UInt8(ascii: "{") else {
      return false
    }
    return isValid(array)
  }

  private struct Checker {
    let bytes: [UInt8]
    var index = 0

    init(_ bytes: [UInt8]) { self.bytes = bytes }

    static func isWhitespace(_ byte: UInt8) -> Bool {
      byte == 0x20 || byte == 0x09 || byte == 0x0A || byte == 0x0D
    }

    var current: UInt8? { index < bytes.count ? bytes[index] : nil }

    mutating func skipWhitespace() {
      while let byte = current, Self.isWhitespace(byte) { index += 1 }
    }

    enum Container { case object, array }

    mutating func document() -> Bool {
      // Containers still open; after a value, what may follow depends on the top.
      var open: [Container] = []
      skipWhitespace()
      while true {
        // Expect a value.
        guard let byte = current else { return false }
        switch byte {
        case UInt8(ascii: "{"):
          index += 1
          skipWhitespace()
          if current == UInt8(ascii: "}") {
            index += 1
          } else {
            guard key() else { return false }
            open.append(.object)
            continue
          }
        case UInt8(ascii: "["):
          index += 1
          skipWhitespace()
          if current == UInt8(ascii: "]") {
            index += 1
          } else {
            open.append(.array)
            continue
          }
        case UInt8(ascii: "\""):
          guard string() else { return false }
        case UInt8(ascii: "t"):
          guard literal("true") else { return false }
        case UInt8(ascii: "f"):
          guard literal("false") else { return false }
        case UInt8(ascii: "n"):
          guard literal("null") else { return false }
        default:
          guard number() else { return false }
        }
        // A value ended: close containers or move to the next element.
        while true {
          skipWhitespace()
          guard let top = open.last else {
            return index == bytes.count
          }
          guard let next = current else { return false }
          if next == UInt8(ascii: ",") {
            index += 1
            skipWhitespace()
            if top == .object { guard key() else { return false } }
            break
          }
          let closer = top == .object ? UInt8(ascii: "}") : UInt8(ascii: "]")
          guard next == closer else { return false }
          index += 1
          open.removeLast()
        }
      }
    }

    /// `"key" :` followed by whitespace; the value comes next.
    mutating func key() -> Bool {
      guard current == UInt8(ascii: "\""), string() else { return false }
      skipWhitespace()
      guard current == UInt8(ascii: ":") else { return false }
      index += 1
      skipWhitespace()
      return true
    }

    mutating func literal(_ word: StaticString) -> Bool {
      let count = word.utf8CodeUnitCount
      guard index + count <= bytes.count else { return false }
      for offset in 0..<count where bytes[index + offset] != word.utf8Start[offset] { return false }
      index += count
      return true
    }

    mutating func digits() -> Int {
      let start = index
      while let byte = current, byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9") { index += 1 }
      return index - start
    }

    /// `-? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?`
    mutating func number() -> Bool {
      if current == UInt8(ascii: "-") { index += 1 }
      if current == UInt8(ascii: "0") {
        index += 1
      } else {
        guard digits() > 0 else { return false }
      }
      if current == UInt8(ascii: ".") {
        index += 1
        guard digits() > 0 else { return false }
      }
      if current == UInt8(ascii: "e") || current == UInt8(ascii: "E") {
        index += 1
        if current == UInt8(ascii: "+") || current == UInt8(ascii: "-") { index += 1 }
        guard digits() > 0 else { return false }
      }
      return true
    }

    mutating func string() -> Bool {
      index += 1  // the opening quote
      while let byte = current {
        switch byte {
        case UInt8(ascii: "\""):
          index += 1
          return true
        case UInt8(ascii: "\\"):
          index += 1
          guard let escaped = current else { return false }
          index += 1
          switch escaped {
          case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"), UInt8(ascii: "b"), UInt8(ascii: "f"),
            UInt8(ascii: "n"), UInt8(ascii: "r"), UInt8(ascii: "t"):
            continue
          case UInt8(ascii: "u"):
            guard index + 4 <= bytes.count, bytes[index..<index + 4].allSatisfy(Self.isHexDigit) else { return false }
            index += 4
          default:
            return false
          }
        case 0..<0x20:
          return false
        case 0x80...:
          guard utf8Sequence() else { return false }
        default:
          index += 1
        }
      }
      return false
    }

    static func isHexDigit(_ byte: UInt8) -> Bool {
      (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) || (UInt8(ascii: "a")...UInt8(ascii: "f")).contains(byte)
        || (UInt8(ascii: "A")...UInt8(ascii: "F")).contains(byte)
    }

    /// One well-formed UTF-8 sequence of two to four bytes (Unicode 15,
    /// table 3-7: no overlongs, no surrogates, nothing past U+10FFFF).
    mutating func utf8Sequence() -> Bool {
      let lead = bytes[index]
      let length: Int
      var secondRange: ClosedRange<UInt8> = 0x80...0xBF
      switch lead {
      case 0xC2...0xDF: length = 2
      case 0xE0:
        length = 3
        secondRange = 0xA0...0xBF
      case 0xE1...0xEC, 0xEE...0xEF: length = 3
      case 0xED:
        length = 3
        secondRange = 0x80...0x9F
      case 0xF0:
        length = 4
        secondRange = 0x90...0xBF
      case 0xF1...0xF3: length = 4
      case 0xF4:
        length = 4
        secondRange = 0x80...0x8F
      default: return false
      }
      guard index + length <= bytes.count, secondRange.contains(bytes[index + 1]) else { return false }
      for offset in 2..<length where !(0x80...0xBF).contains(bytes[index + offset]) { return false }
      index += length
      return true
    }
  }
}
