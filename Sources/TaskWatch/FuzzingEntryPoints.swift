import CeleryPayload
import RedisWire

/// The internal parsers the fuzz targets in `Fuzzing/` drive, and nothing else.
///
/// Reachable only with `@_spi(Fuzzing) import TaskWatch`: they are not part of
/// the library's API and may change with the parsers. Parsers that are public
/// already (``BackendURL/parse(_:certificateRequirement:)``,
/// ``TaskMeta/decode(_:)``) are fuzzed through their public entry points
/// instead.
@_spi(Fuzzing) public enum FuzzingEntryPoints {
  /// The reply reader every connection uses (`RedisReplyParser`), with each
  /// reply written out in full as text, since `RedisReply` is not public.
  public final class ReplyReader {
    private let parser: RedisReplyParser

    /// Creates a reader with nothing buffered.
    /// - Parameter subscribed: read as a subscribed connection does: a
    ///   pub/sub message is one value (see ``isMessage(_:)``).
    public init(subscribed: Bool = false) {
      parser = RedisReplyParser(readsPubSubMessages: subscribed)
    }

    /// Whether a reply text from ``next()`` is a pub/sub message read as one
    /// value (only a subscribed reader returns those).
    public static func isMessage(_ text: String) -> Bool {
      text.hasPrefix(messagePrefix)
    }

    private static let messagePrefix = String(
      String(reflecting: RedisReply.message(channel: [], payload: [])).prefix { $0 != "(" })

    /// Appends bytes as received from a server.
    public func feed(_ bytes: [UInt8]) {
      parser.feed(bytes)
    }

    /// The next complete reply (every field, nested replies included), or
    /// `nil` while more bytes are needed.
    /// - Throws: when the bytes are not RESP; the reader is unusable after it.
    public func next() throws -> String? {
      try parser.next().map { String(reflecting: $0) }
    }
  }

  /// The content types of every compression kombu offers, as Celery 5.7 writes
  /// them in a compressed payload's marker.
  public static let compressionContentTypes = [
    PayloadDecompression.zlibContentType, "application/x-bz2", "application/x-lzma", "application/x-brotli",
    "application/zstd",
  ]

  /// The marker that starts a compressed payload, up to the content type.
  public static let compressionMarker = PayloadFormat.compressionMarker

  /// ``CeleryPayload/TaskMeta/decode(_:)`` with a smaller cap on a compressed payload's
  /// inflated size, so a decompression bomb costs the fuzzer megabytes, not
  /// the production cap's 512 MB.
  public static func decodePayload(_ payload: [UInt8], decompressionLimit: Int) throws(DecodeError) -> TaskMeta {
    try TaskMeta.decode(payload, decompressionLimit: decompressionLimit)
  }

  /// Decompresses a body as the payload decoder does (no marker).
  /// - Parameters:
  ///   - body: the compressed bytes.
  ///   - contentType: one of ``compressionContentTypes`` (or any other text).
  ///   - limit: the largest output accepted, in bytes.
  public static func decompress(_ body: [UInt8], contentType: String, limit: Int) throws(DecodeError) -> [UInt8] {
    try PayloadDecompression.decompress(body[...], contentType: contentType, limit: limit)
  }

  /// Converts one msgpack document to JSON as the payload decoder does,
  /// before the JSON scanner sees it.
  public static func messagePackToJSON(_ payload: [UInt8]) throws(DecodeError) -> [UInt8] {
    try MessagePackJSON.convert(payload)
  }
}
