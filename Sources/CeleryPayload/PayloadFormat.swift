/// What a result payload's first bytes say about its serializer.
///
/// Chooses the decoder (JSON as it is, msgpack converted, compressed bodies
/// inflated first) and turns "not JSON" into an error that names the
/// serializer the worker really used, so the user knows which Celery setting
/// to change.
enum PayloadFormat: Equatable {
  case json
  case pickle
  case msgpack
  case yaml
  /// Celery 5.7's `result_compression`: the body starts at `bodyOffset`,
  /// right after the content type's terminating NUL.
  case compressed(contentType: String, bodyOffset: Int)
  case unknown

  /// The marker Celery 5.7 puts before a compressed payload:
  /// `\x00celery-compressed\x00<content-type>\x00`.
  static let compressionMarker = Array("\u{0}celery-compressed\u{0}".utf8)

  /// Classifies a payload by its leading bytes.
  static func sniff(_ payload: [UInt8]) -> PayloadFormat {
    if payload.starts(with: compressionMarker) {
      let rest = payload.dropFirst(compressionMarker.count)
      let type = rest.prefix(while: { $0 != 0 })
      return .compressed(
        contentType: String(decoding: type, as: UTF8.self), bodyOffset: min(type.endIndex + 1, payload.count))
    }
    guard let first = payload.first(where: { !Self.isWhitespace($0) }) else { return .unknown }
    if first == UInt8(ascii: "{") || first == UInt8(ascii: "[") || first == UInt8(ascii: "\"") {
      return .json
    }
    if first == 0x80, payload.count > 1, (1...5).contains(payload[1]) { return .pickle }
    if (0x80...0x8F).contains(first) || first == 0xDE || first == 0xDF { return .msgpack }
    if first < 0x80, payload.prefix(4096).contains(UInt8(ascii: ":")),
      payload.prefix(4096).allSatisfy({ $0 >= 0x20 || Self.isWhitespace($0) })
    {
      return .yaml
    }
    return .unknown
  }

  private static func isWhitespace(_ byte: UInt8) -> Bool {
    byte == 0x20 || byte == 0x09 || byte == 0x0A || byte == 0x0D
  }
}
