/// The one decoder of JSON string literals, for every reader of a payload
/// (``TaskMeta``'s `status` and `task_id`, ``JSONTree``), and the `\u`
/// escape rules the scanner and the rewriter share.
///
/// A UTF-16 surrogate pair (`"\ud83d\ude00"`) is one scalar; a lone
/// surrogate (`"\ud83d"`, text cut in the middle of an emoji) is U+FFFD, as
/// in the output lines; invalid UTF-8 is repaired with U+FFFD too.
enum JSONString {
  /// Decodes the quoted literal at `range` of `json` (quotes included),
  /// which the scanner has validated.
  static func decode(_ json: [UInt8], _ range: Range<Int>) -> String {
    let start = range.lowerBound + 1
    let end = range.upperBound - 1
    guard start < end else { return "" }
    let inner = json[start..<end]
    guard inner.contains(UInt8(ascii: "\\")) else { return String(decoding: inner, as: UTF8.self) }
    var utf8 = [UInt8]()
    utf8.reserveCapacity(inner.count)
    var index = start
    while index < end {
      let byte = json[index]
      guard byte == UInt8(ascii: "\\"), index + 1 < end else {
        utf8.append(byte)
        index += 1
        continue
      }
      let escaped = json[index + 1]
      index += 2
      switch escaped {
      case UInt8(ascii: "b"): utf8.append(0x08)
      case UInt8(ascii: "f"): utf8.append(0x0C)
      case UInt8(ascii: "n"): utf8.append(0x0A)
      case UInt8(ascii: "r"): utf8.append(0x0D)
      case UInt8(ascii: "t"): utf8.append(0x09)
      case UInt8(ascii: "u"):
        let (scalar, length) = unicodeEscape(json[..<end], at: index - 2)
        index += length - 2
        UTF8.encode(scalar) { utf8.append($0) }
      default: utf8.append(escaped)
      }
    }
    return String(decoding: utf8, as: UTF8.self)
  }

  /// The scalar a `\uXXXX` escape at `index` stands for, and how many bytes
  /// it takes: 12 for a surrogate pair, else 6; a lone surrogate (or, in
  /// unvalidated bytes, a bad escape) is U+FFFD.
  static func unicodeEscape<Bytes: RandomAccessCollection<UInt8>>(
    _ bytes: Bytes, at index: Int
  ) -> (scalar: Unicode.Scalar, length: Int) where Bytes.Index == Int {
    guard let unit = hexUnit(bytes, at: index + 2) else { return ("\u{FFFD}", min(6, bytes.endIndex - index)) }
    guard (0xD800...0xDFFF).contains(unit) else { return (Unicode.Scalar(unit) ?? "\u{FFFD}", 6) }
    guard unit < 0xDC00, let low = lowSurrogate(bytes, at: index + 6) else { return ("\u{FFFD}", 6) }
    let value = 0x10000 + ((UInt32(unit) - 0xD800) << 10) + (UInt32(low) - 0xDC00)
    return (Unicode.Scalar(value) ?? "\u{FFFD}", 12)
  }

  /// The low surrogate of a `\uDC00`…`\uDFFF` escape at `index`, if one is there.
  static func lowSurrogate<Bytes: RandomAccessCollection<UInt8>>(
    _ bytes: Bytes, at index: Int
  ) -> UInt16? where Bytes.Index == Int {
    guard index + 1 < bytes.endIndex, bytes[index] == UInt8(ascii: "\\"), bytes[index + 1] == UInt8(ascii: "u"),
      let unit = hexUnit(bytes, at: index + 2), (0xDC00...0xDFFF).contains(unit)
    else { return nil }
    return unit
  }

  /// The four hex digits at `index` as a UTF-16 code unit.
  static func hexUnit<Bytes: RandomAccessCollection<UInt8>>(
    _ bytes: Bytes, at index: Int
  ) -> UInt16? where Bytes.Index == Int {
    guard index >= bytes.startIndex, index + 4 <= bytes.endIndex else { return nil }
    var unit: UInt16 = 0
    for offset in 0..<4 {
      guard let digit = hexValue(bytes[index + offset]) else { return nil }
      unit = unit << 4 | UInt16(digit)
    }
    return unit
  }

  private static func hexValue(_ byte: UInt8) -> UInt8? {
    switch byte {
    case UInt8(ascii: "0")...UInt8(ascii: "9"): return byte - UInt8(ascii: "0")
    case UInt8(ascii: "a")...UInt8(ascii: "f"): return byte - UInt8(ascii: "a") + 10
    case UInt8(ascii: "A")...UInt8(ascii: "F"): return byte - UInt8(ascii: "A") + 10
    default: return nil
    }
  }
}
