/// Parses raw RESP bytes with the reader the connections use (hiredis's, see
/// `HiredisReader`), usable without a server.
public final class RedisReplyParser {
  private var reader = HiredisReader()

  /// Creates an empty parser.
  public init() {}

  /// Appends bytes received from a server.
  public func feed(_ bytes: [UInt8]) {
    bytes.withUnsafeBytes { reader.feed($0) }
  }

  /// The next complete reply, or `nil` while more bytes are needed.
  /// - Throws: ``RedisError/connectionLost(endpoint:reason:)`` on malformed input.
  public func next() throws -> RedisReply? {
    do {
      return try reader.next()
    } catch {
      throw RedisError.connectionLost(endpoint: "reader", reason: "protocol error: " + error.message)
    }
  }
}
