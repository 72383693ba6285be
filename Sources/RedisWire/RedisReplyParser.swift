/// Parses raw RESP bytes with the reader the connections use (hiredis's, see
/// `HiredisReader`), usable without a server.
package final class RedisReplyParser {
  private var reader = HiredisReader()

  /// Creates an empty parser.
  /// - Parameters:
  ///   - readsPubSubMessages: read messages as a subscribed connection does
  ///     (``RedisReply/message(channel:payload:)``).
  ///   - channelKeying: key their channels as a watch's subscriber does
  ///     (``RedisReply/keyedMessage(key:payload:)``).
  package init(readsPubSubMessages: Bool = false, channelKeying: ChannelKeying? = nil) {
    reader.readsPubSubMessages = readsPubSubMessages
    reader.channelKeying = channelKeying
  }

  /// Appends bytes received from a server.
  package func feed(_ bytes: [UInt8]) {
    bytes.withUnsafeBytes { reader.feed($0) }
  }

  /// The next complete reply, or `nil` while more bytes are needed.
  /// - Throws: ``RedisError/connectionLost(endpoint:reason:)`` on malformed input.
  package func next() throws -> RedisReply? {
    do {
      return try reader.next()
    } catch {
      throw RedisError.connectionLost(endpoint: "reader", reason: "protocol error: " + error.message)
    }
  }
}
