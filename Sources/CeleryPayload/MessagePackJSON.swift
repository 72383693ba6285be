/// Converts a msgpack document (Celery's `result_serializer="msgpack"`) into
/// the JSON a JSON worker writes for the same result, in one pass and
/// without building a document tree.
///
/// Renderings, chosen so that `meta` is the same whichever serializer the
/// worker used:
/// - nil, booleans, integers (the full int64 and uint64 ranges), strings,
///   arrays and maps: their JSON counterparts.
/// - float32 and float64: the shortest decimal that reads back as the same
///   double; NaN and the infinities become the strings `"NaN"`, `"Infinity"`
///   and `"-Infinity"`, as on the JSON path.
/// - bin (Python `bytes`): kombu's JSON envelopes, exactly what its JSON
///   encoder writes: `{"__type__":"bytes","__value__":"<text>"}` when the bytes
///   are valid UTF-8, else `{"__type__":"base64","__value__":"<base64>"}`.
/// - the timestamp extension (type -1): kombu's datetime envelope,
///   `{"__type__":"datetime","__value__":"2026-11-25T19:12:08.938000+00:00"}`
///   (fractions of a microsecond keep nine digits); a timestamp outside the
///   years 1–9999 falls back to the next form.
/// - other extension types: `{"__type__":"msgpack_ext","__value__":{"code":N,"base64":"<data>"}}`.
/// - map keys that are not strings: the key's JSON text as a string
///   (`1` → `"1"`, `nil` → `"null"`), as Python's `json` does with int keys.
///   An array or map key (Python packs a tuple key as an array) is rendered
///   the same way, but one that holds an array or map key of its own is
///   refused: quoting keys inside keys doubles the text at every level (a
///   few hundred bytes of nested map keys asked for gigabytes), and no
///   Python dict can have such a key.
///
/// The work and the output are linear in the input: every value consumes at
/// least one input byte, a container's count is checked against the bytes
/// left before anything is done, and no output is copied more than twice.
/// - strings that are not valid UTF-8 are repaired with U+FFFD.
struct MessagePackJSON {
  /// Deepest nesting of arrays and maps accepted, as on the JSON path.
  static let maximumDepth = 512

  private let input: UnsafeBufferPointer<UInt8>
  private var index = 0
  private var output: [UInt8] = []
  /// Whether a map key that is itself an array or map is being converted.
  private var insideKey = false

  private init(_ input: UnsafeBufferPointer<UInt8>) {
    self.input = input
    output.reserveCapacity(input.count + input.count / 2 + 16)
  }

  /// Converts one msgpack document into compact JSON.
  /// - Throws: ``DecodeError/invalidMessagePack(_:)`` for truncated or
  ///   malformed input, nesting deeper than ``maximumDepth``, or bytes after
  ///   the document.
  static func convert(_ payload: [UInt8]) throws(DecodeError) -> [UInt8] {
    try payload.withUnsafeBufferPointer { buffer throws(DecodeError) in
      var converter = MessagePackJSON(buffer)
      try converter.convertValue(depth: 0)
      guard converter.index == buffer.count else {
        throw .invalidMessagePack("\(buffer.count - converter.index) bytes after the end of the document")
      }
      return converter.output
    }
  }

  // MARK: - Values

  private mutating func convertValue(depth: Int) throws(DecodeError) {
    let marker = try readByte()
    switch marker {
    case 0x00...0x7F: appendUnsigned(UInt64(marker))
    case 0x80...0x8F: try convertMap(count: Int(marker & 0x0F), depth: depth)
    case 0x90...0x9F: try convertArray(count: Int(marker & 0x0F), depth: depth)
    case 0xA0...0xBF: try convertString(length: Int(marker & 0x1F))
    case 0xC0: append("null")
    case 0xC1: throw .invalidMessagePack("byte 0xc1 at offset \(index - 1) is not a msgpack type")
    case 0xC2: append("false")
    case 0xC3: append("true")
    case 0xC4: try convertBinary(length: Int(try readUnsigned(bytes: 1)))
    case 0xC5: try convertBinary(length: Int(try readUnsigned(bytes: 2)))
    case 0xC6: try convertBinary(length: Int(try readUnsigned(bytes: 4)))
    case 0xC7: try convertExtension(length: Int(try readUnsigned(bytes: 1)))
    case 0xC8: try convertExtension(length: Int(try readUnsigned(bytes: 2)))
    case 0xC9: try convertExtension(length: Int(try readUnsigned(bytes: 4)))
    case 0xCA: appendDouble(Double(Float(bitPattern: UInt32(try readUnsigned(bytes: 4)))))
    case 0xCB: appendDouble(Double(bitPattern: try readUnsigned(bytes: 8)))
    case 0xCC: appendUnsigned(try readUnsigned(bytes: 1))
    case 0xCD: appendUnsigned(try readUnsigned(bytes: 2))
    case 0xCE: appendUnsigned(try readUnsigned(bytes: 4))
    case 0xCF: appendUnsigned(try readUnsigned(bytes: 8))
    case 0xD0: appendSigned(Int64(Int8(truncatingIfNeeded: try readUnsigned(bytes: 1))))
    case 0xD1: appendSigned(Int64(Int16(truncatingIfNeeded: try readUnsigned(bytes: 2))))
    case 0xD2: appendSigned(Int64(Int32(truncatingIfNeeded: try readUnsigned(bytes: 4))))
    case 0xD3: appendSigned(Int64(bitPattern: try readUnsigned(bytes: 8)))
    case 0xD4: try convertExtension(length: 1)
    case 0xD5: try convertExtension(length: 2)
    case 0xD6: try convertExtension(length: 4)
    case 0xD7: try convertExtension(length: 8)
    case 0xD8: try convertExtension(length: 16)
    case 0xD9: try convertString(length: Int(try readUnsigned(bytes: 1)))
    case 0xDA: try convertString(length: Int(try readUnsigned(bytes: 2)))
    case 0xDB: try convertString(length: Int(try readUnsigned(bytes: 4)))
    case 0xDC: try convertArray(count: Int(try readUnsigned(bytes: 2)), depth: depth)
    case 0xDD: try convertArray(count: Int(try readUnsigned(bytes: 4)), depth: depth)
    case 0xDE: try convertMap(count: Int(try readUnsigned(bytes: 2)), depth: depth)
    case 0xDF: try convertMap(count: Int(try readUnsigned(bytes: 4)), depth: depth)
    default: appendSigned(Int64(Int8(bitPattern: marker)))
    }
  }

  private mutating func convertArray(count: Int, depth: Int) throws(DecodeError) {
    try checkContainer(count: count, bytesPerEntry: 1, depth: depth)
    output.append(UInt8(ascii: "["))
    for position in 0..<count {
      if position > 0 { output.append(UInt8(ascii: ",")) }
      try convertValue(depth: depth + 1)
    }
    output.append(UInt8(ascii: "]"))
  }

  private mutating func convertMap(count: Int, depth: Int) throws(DecodeError) {
    try checkContainer(count: count, bytesPerEntry: 2, depth: depth)
    output.append(UInt8(ascii: "{"))
    for position in 0..<count {
      if position > 0 { output.append(UInt8(ascii: ",")) }
      try convertKey(depth: depth + 1)
      output.append(UInt8(ascii: ":"))
      try convertValue(depth: depth + 1)
    }
    output.append(UInt8(ascii: "}"))
  }

  /// A string key as it is; a scalar key as its JSON text in quotes.
  private mutating func convertKey(depth: Int) throws(DecodeError) {
    let marker = try peekByte()
    if (0xA0...0xBF).contains(marker) || (0xD9...0xDB).contains(marker) {
      try convertValue(depth: depth)
      return
    }
    let isContainer = (0x80...0x9F).contains(marker) || (0xDC...0xDF).contains(marker)
    if isContainer && insideKey {
      throw .invalidMessagePack("a map key holds a map or array key of its own (at offset \(index))")
    }
    let start = output.count
    let outerInsideKey = insideKey
    insideKey = insideKey || isContainer
    defer { insideKey = outerInsideKey }
    try convertValue(depth: depth)
    let text = Array(output[start...])
    output.removeSubrange(start...)
    text.withUnsafeBufferPointer { appendQuoted($0) }
  }

  /// Refuses nesting beyond the limit, and counts the input cannot hold
  /// (every element takes at least one byte), before any work is done.
  private func checkContainer(count: Int, bytesPerEntry: Int, depth: Int) throws(DecodeError) {
    guard depth < Self.maximumDepth else {
      throw .invalidMessagePack("nested deeper than \(Self.maximumDepth) levels")
    }
    guard count <= (input.count - index) / bytesPerEntry else {
      throw .invalidMessagePack("a container of \(count) elements at offset \(index) is longer than the payload")
    }
  }

  private mutating func convertString(length: Int) throws(DecodeError) {
    let bytes = try readBytes(length)
    if bytes.contains(where: { $0 >= 0x80 }), String(validating: bytes, as: UTF8.self) == nil {
      Array(String(decoding: bytes, as: UTF8.self).utf8).withUnsafeBufferPointer { appendQuoted($0) }
    } else {
      appendQuoted(bytes)
    }
  }

  private mutating func convertBinary(length: Int) throws(DecodeError) {
    let bytes = try readBytes(length)
    if String(validating: bytes, as: UTF8.self) != nil {
      append(#"{"__type__":"bytes","__value__":"#)
      appendQuoted(bytes)
    } else {
      append(#"{"__type__":"base64","__value__":""#)
      appendBase64(bytes)
      output.append(UInt8(ascii: "\""))
    }
    output.append(UInt8(ascii: "}"))
  }

  private mutating func convertExtension(length: Int) throws(DecodeError) {
    let code = Int8(bitPattern: try readByte())
    let data = try readBytes(length)
    if code == -1, let timestamp = Self.isoTimestamp(data) {
      append(#"{"__type__":"datetime","__value__":""#)
      append(timestamp)
      append("\"}")
      return
    }
    append(#"{"__type__":"msgpack_ext","__value__":{"code":"#)
    appendSigned(Int64(code))
    append(#","base64":""#)
    appendBase64(data)
    append("\"}}")
  }

  // MARK: - Reading

  private mutating func readByte() throws(DecodeError) -> UInt8 {
    let byte = try peekByte()
    index += 1
    return byte
  }

  private func peekByte() throws(DecodeError) -> UInt8 {
    guard index < input.count else { throw .invalidMessagePack("truncated at offset \(index)") }
    return input[index]
  }

  /// A big-endian unsigned integer of `bytes` bytes.
  private mutating func readUnsigned(bytes count: Int) throws(DecodeError) -> UInt64 {
    var value: UInt64 = 0
    for byte in try readBytes(count) { value = value << 8 | UInt64(byte) }
    return value
  }

  private mutating func readBytes(_ count: Int) throws(DecodeError) -> UnsafeBufferPointer<UInt8> {
    guard count <= input.count - index else {
      throw .invalidMessagePack("truncated at offset \(index): \(count) bytes announced, \(input.count - index) left")
    }
    defer { index += count }
    return UnsafeBufferPointer(rebasing: input[index..<(index + count)])
  }

  // MARK: - Writing

  private mutating func append(_ text: StaticString) {
    text.withUTF8Buffer { output.append(contentsOf: $0) }
  }

  private mutating func append(_ text: String) {
    output.append(contentsOf: text.utf8)
  }

  private mutating func appendUnsigned(_ value: UInt64) {
    let start = output.count
    var rest = value
    repeat {
      output.append(UInt8(ascii: "0") + UInt8(rest % 10))
      rest /= 10
    } while rest > 0
    output[start...].reverse()
  }

  private mutating func appendSigned(_ value: Int64) {
    if value < 0 { output.append(UInt8(ascii: "-")) }
    appendUnsigned(value.magnitude)
  }

  private mutating func appendDouble(_ value: Double) {
    if value.isNaN {
      append(#""NaN""#)
    } else if value.isInfinite {
      append(value < 0 ? #""-Infinity""# : #""Infinity""#)
    } else {
      append(value.description)
    }
  }

  /// Appends `bytes` as a JSON string: quotes, backslashes and control
  /// characters escaped, everything else copied as it is.
  private mutating func appendQuoted(_ bytes: UnsafeBufferPointer<UInt8>) {
    output.append(UInt8(ascii: "\""))
    var runStart = 0
    for (position, byte) in bytes.enumerated()
    where byte < 0x20 || byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\") {
      output.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[runStart..<position]))
      appendEscape(byte)
      runStart = position + 1
    }
    output.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[runStart...]))
    output.append(UInt8(ascii: "\""))
  }

  private mutating func appendEscape(_ byte: UInt8) {
    output.append(UInt8(ascii: "\\"))
    switch byte {
    case UInt8(ascii: "\""), UInt8(ascii: "\\"): output.append(byte)
    case 0x08: output.append(UInt8(ascii: "b"))
    case 0x0C: output.append(UInt8(ascii: "f"))
    case 0x0A: output.append(UInt8(ascii: "n"))
    case 0x0D: output.append(UInt8(ascii: "r"))
    case 0x09: output.append(UInt8(ascii: "t"))
    default:
      append("u00")
      output.append(Self.hexDigits[Int(byte >> 4)])
      output.append(Self.hexDigits[Int(byte & 0x0F)])
    }
  }

  private static let hexDigits = Array("0123456789abcdef".utf8)
  private static let base64Alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)

  /// Standard base64 with padding, as Python's `base64.b64encode`.
  private mutating func appendBase64(_ bytes: UnsafeBufferPointer<UInt8>) {
    var position = 0
    while position < bytes.count {
      let count = min(3, bytes.count - position)
      var group: UInt32 = 0
      for offset in 0..<3 {
        group = group << 8 | (offset < count ? UInt32(bytes[position + offset]) : 0)
      }
      for digit in 0..<4 {
        let sextet = Int(group >> (18 - 6 * digit) & 0x3F)
        output.append(digit <= count ? Self.base64Alphabet[sextet] : UInt8(ascii: "="))
      }
      position += 3
    }
  }

  // MARK: - Timestamps

  /// The msgpack timestamp extension (32, 64 or 96 bits) as Python's
  /// `datetime.isoformat()` writes an aware UTC datetime, or `nil` when the
  /// data is malformed or the year is outside 1–9999.
  static func isoTimestamp(_ data: UnsafeBufferPointer<UInt8>) -> String? {
    func bigEndian(_ range: Range<Int>) -> UInt64 {
      data[range].reduce(0) { $0 << 8 | UInt64($1) }
    }
    let seconds: Int64
    let nanoseconds: UInt64
    switch data.count {
    case 4:
      seconds = Int64(bigEndian(0..<4))
      nanoseconds = 0
    case 8:
      let packed = bigEndian(0..<8)
      seconds = Int64(packed & 0x3_FFFF_FFFF)
      nanoseconds = packed >> 34
    case 12:
      nanoseconds = bigEndian(0..<4)
      seconds = Int64(bitPattern: bigEndian(4..<12))
    default:
      return nil
    }
    // 0001-01-01 and 10000-01-01 in seconds since 1970-01-01.
    guard nanoseconds < 1_000_000_000, seconds >= -62_135_596_800, seconds < 253_402_300_800 else { return nil }
    let days = seconds >= 0 ? seconds / 86_400 : (seconds - 86_399) / 86_400
    let secondOfDay = seconds - days * 86_400
    let (year, month, day) = civilDate(daysSinceEpoch: days)
    var text =
      padded(year, 4) + "-" + padded(month, 2) + "-" + padded(day, 2) + "T" + padded(secondOfDay / 3600, 2) + ":"
      + padded(secondOfDay / 60 % 60, 2) + ":" + padded(secondOfDay % 60, 2)
    if nanoseconds % 1000 != 0 {
      text += "." + padded(Int64(nanoseconds), 9)
    } else if nanoseconds != 0 {
      text += "." + padded(Int64(nanoseconds / 1000), 6)
    }
    return text + "+00:00"
  }

  /// The proleptic Gregorian date of a day count (Howard Hinnant's `civil_from_days`).
  private static func civilDate(daysSinceEpoch days: Int64) -> (year: Int64, month: Int64, day: Int64) {
    let shifted = days + 719_468
    let era = (shifted >= 0 ? shifted : shifted - 146_096) / 146_097
    let dayOfEra = shifted - era * 146_097
    let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36_524 - dayOfEra / 146_096) / 365
    let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
    let monthIndex = (5 * dayOfYear + 2) / 153
    let day = dayOfYear - (153 * monthIndex + 2) / 5 + 1
    let month = monthIndex < 10 ? monthIndex + 3 : monthIndex - 9
    return (yearOfEra + era * 400 + (month <= 2 ? 1 : 0), month, day)
  }

  private static func padded(_ value: Int64, _ width: Int) -> String {
    let digits = String(value)
    return String(repeating: "0", count: max(0, width - digits.count)) + digits
  }
}
