import Glibc

/// A task's result meta as Celery stored it, with the two fields the state
/// machine needs read out of it.
///
/// `json` is the payload re-emitted as one line of strict JSON: Celery's bytes
/// unchanged where possible; Python's `NaN`, `Infinity` and `-Infinity` become
/// the strings `"NaN"`, `"Infinity"` and `"-Infinity"`, line breaks between
/// tokens are dropped, a lone UTF-16 surrogate escape (`"\ud83d"`) becomes
/// `"\ufffd"`, and invalid UTF-8 is repaired with U+FFFD. A payload that is
/// not JSON by RFC 8259 (plus Python's three tokens) is refused, never
/// copied to the output. Everything else,
/// including kombu's `{"__type__": …, "__value__": …}` envelopes, passes
/// through as it is.
public struct TaskMeta: Sendable, Equatable {
  /// The `status` field.
  public let state: TaskState
  /// The meta as one line of valid JSON (an object).
  public let json: [UInt8]
  /// Where `task_id`'s string value (quotes included) is in `json`: it is
  /// decoded only when asked for, as the consumer only compares it.
  private let taskIDRange: Range<Int>?

  /// The `task_id` field, when the payload has one.
  public var taskID: String? {
    taskIDRange.map { JSONString.decode(json, $0) }
  }

  /// Whether the payload has no `task_id` field or names `taskID` there.
  package func hasTaskID(matching taskID: String) -> Bool {
    var taskID = taskID
    return taskID.withUTF8 { hasTaskID(matchingUTF8: UnsafeRawBufferPointer($0)) }
  }

  /// ``hasTaskID(matching:)`` for the id with these UTF-8 bytes (the rest of
  /// a channel's name, or a uuid formatted on the stack): the consumer keeps
  /// ids compactly and makes no `String` of the id per message.
  package func hasTaskID(matchingUTF8 id: UnsafeRawBufferPointer) -> Bool {
    guard let range = taskIDRange else { return true }
    // As written, when that is the value (no escapes); otherwise decoded.
    // memcmp first, then memchr for a backslash: `contains` went byte by
    // byte (286 → 119 instructions a message at S4).
    let equalAsWritten = json.withUnsafeBytes { json in
      range.count - 2 == id.count
        && (id.isEmpty
          || (memcmp(json.baseAddress! + range.lowerBound + 1, id.baseAddress!, id.count) == 0
            && memchr(id.baseAddress!, Int32(UInt8(ascii: "\\")), id.count) == nil))
    }
    return equalAsWritten || JSONString.decode(json, range).utf8.elementsEqual(id)
  }

  /// Decodes a payload as a Celery worker writes it.
  /// - Throws: ``DecodeError`` naming what the payload looks like when it is not
  ///   a JSON object with a string `status`.
  public static func decode(_ payload: [UInt8]) throws(DecodeError) -> TaskMeta {
    try decode(payload, decompressionLimit: PayloadDecompression.maximumDecompressedSize)
  }

  /// ``decode(_:)`` with another cap on a compressed payload's inflated size
  /// (the fuzz targets use a small one, see `FuzzingEntryPoints`).
  package static func decode(_ payload: [UInt8], decompressionLimit: Int) throws(DecodeError) -> TaskMeta {
    let json = try jsonBytes(of: payload, decompressionLimit: decompressionLimit)
    let scan = try json.withUnsafeBufferPointer { buffer throws(DecodeError) in
      try JSONScanner.scan(buffer)
    }
    guard scan.needsRewrite || scan.hasNonASCII else { return try meta(json, scan) }
    var normalized = json
    if scan.needsRewrite { normalized = rewritten(json) }
    if scan.hasNonASCII { normalized = repairedUTF8(normalized) }
    return try meta(normalized, try rescan(normalized))
  }

  /// The meta of JSON ready to go out as it is, from its scan (passed on,
  /// not chosen between the first scan and a rescan into a local: that
  /// copied the outcome, ~100 instructions a message at S4).
  private static func meta(_ normalized: [UInt8], _ final: JSONScanner.Outcome) throws(DecodeError) -> TaskMeta {
    guard let statusRange = final.status else {
      throw .notTaskMeta(final.statusIsNotString ? "'status' is not a string" : "no 'status' field")
    }
    // A common name is found by its bytes (a name with an escape is none of them).
    let common = normalized.withUnsafeBufferPointer { json in
      TaskState.common(json.baseAddress! + statusRange.lowerBound + 1, count: statusRange.count - 2)
    }
    if let common { return TaskMeta(state: common, json: normalized, taskIDRange: final.taskID) }
    let status = JSONString.decode(normalized, statusRange)
    guard !status.isEmpty else { throw .notTaskMeta("'status' is empty") }
    return TaskMeta(state: TaskState(status), json: normalized, taskIDRange: final.taskID)
  }

  /// The meta without its `result` and `traceback` members (for `--no-result`).
  public func jsonWithoutResult() -> [UInt8] {
    guard let scan = try? Self.rescan(json, recordMembers: true) else { return json }
    let kept = scan.members.filter { member in
      let key = decodeKey(member.key)
      return key != "result" && key != "traceback"
    }
    guard kept.count != scan.members.count else { return json }
    var output: [UInt8] = [UInt8(ascii: "{")]
    for (position, member) in kept.enumerated() {
      if position > 0 { output.append(UInt8(ascii: ",")) }
      output.append(contentsOf: json[member.span])
    }
    output.append(UInt8(ascii: "}"))
    return output
  }

  private func decodeKey(_ range: Range<Int>) -> String {
    JSONString.decode(json, range)
  }

  /// Turns any supported payload encoding into JSON bytes: JSON as it is (no
  /// copy), msgpack converted (``MessagePackJSON``), and Celery 5.7's
  /// compressed payloads inflated first (``PayloadDecompression``).
  /// - Parameters:
  ///   - compressionAllowed: false for an inflated body, since Celery
  ///     compresses once.
  ///   - decompressionLimit: the largest inflated body accepted, in bytes.
  static func jsonBytes(
    of payload: [UInt8], compressionAllowed: Bool = true,
    decompressionLimit: Int = PayloadDecompression.maximumDecompressedSize
  ) throws(DecodeError) -> [UInt8] {
    switch PayloadFormat.sniff(payload) {
    case .json, .unknown:
      return payload
    case .msgpack:
      return try MessagePackJSON.convert(payload)
    case .pickle:
      throw .unsupportedSerializer("pickle")
    case .yaml:
      throw .unsupportedSerializer("YAML")
    case .compressed(let contentType, let bodyOffset):
      guard compressionAllowed else { throw .invalidCompressedPayload("it is compressed twice") }
      let body = try PayloadDecompression.decompress(
        payload[bodyOffset...], contentType: contentType, limit: decompressionLimit)
      return try jsonBytes(of: body, compressionAllowed: false)
    }
  }

  private static func rescan(_ json: [UInt8], recordMembers: Bool = false) throws(DecodeError)
    -> JSONScanner.Outcome
  {
    try json.withUnsafeBufferPointer { buffer throws(DecodeError) in
      try JSONScanner.scan(buffer, recordMembers: recordMembers)
    }
  }

  /// Copies validated JSON, dropping whitespace between tokens, quoting
  /// Python's non-finite numbers and replacing lone surrogate escapes with
  /// `\ufffd`.
  private static func rewritten(_ json: [UInt8]) -> [UInt8] {
    var output = [UInt8]()
    output.reserveCapacity(json.count + 16)
    var index = 0
    var inString = false
    while index < json.count {
      let byte = json[index]
      if inString {
        if byte == UInt8(ascii: "\\") && json[index + 1] == UInt8(ascii: "u") {
          let length = JSONString.unicodeEscape(json, at: index).length
          if length == 6, let unit = JSONString.hexUnit(json, at: index + 2), (0xD800...0xDFFF).contains(unit) {
            output.append(contentsOf: #"\ufffd"#.utf8)
          } else {
            output.append(contentsOf: json[index..<(index + length)])
          }
          index += length
          continue
        }
        output.append(byte)
        if byte == UInt8(ascii: "\\") {
          output.append(json[index + 1])
          index += 2
          continue
        }
        if byte == UInt8(ascii: "\"") { inString = false }
        index += 1
        continue
      }
      switch byte {
      case UInt8(ascii: "\""):
        inString = true
        output.append(byte)
        index += 1
      case UInt8(ascii: " "), UInt8(ascii: "\t"), UInt8(ascii: "\n"), UInt8(ascii: "\r"):
        index += 1
      case UInt8(ascii: "N"):
        output.append(contentsOf: #""NaN""#.utf8)
        index += 3
      case UInt8(ascii: "I"):
        output.append(contentsOf: #""Infinity""#.utf8)
        index += 8
      case UInt8(ascii: "-") where index + 1 < json.count && json[index + 1] == UInt8(ascii: "I"):
        output.append(contentsOf: #""-Infinity""#.utf8)
        index += 9
      default:
        output.append(byte)
        index += 1
      }
    }
    return output
  }

  private static func repairedUTF8(_ bytes: [UInt8]) -> [UInt8] {
    let text = String(decoding: bytes, as: UTF8.self)
    return text.utf8.elementsEqual(bytes) ? bytes : Array(text.utf8)
  }
}
