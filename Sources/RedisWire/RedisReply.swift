/// A reply from Redis: Swift values, built as hiredis's reader parses the
/// bytes (`HiredisReader`), so no C memory outlives the read.
///
/// RESP2 has five reply types; `null` stands for both the null bulk string and
/// the null array.
package enum RedisReply: Sendable, Equatable {
  /// A bulk string: binary-safe bytes.
  case bulk([UInt8])
  /// A simple status string such as `OK` or `PONG`.
  case status(String)
  /// An integer reply.
  case integer(Int64)
  /// An error reply such as `WRONGPASS invalid username-password pair`.
  case error(String)
  /// A null bulk string or null array (a missing key in `GET`/`MGET`).
  case null
  /// An array of replies (`MGET`, pub/sub messages, subscribe confirmations).
  case array([RedisReply])
  /// A pub/sub message, `["message", channel, payload]` or `["pmessage",
  /// pattern, channel, payload]` (the pattern dropped), as the reader of a
  /// subscribed connection returns it (`HiredisReader.readsPubSubMessages`):
  /// one value instead of an array of three or four.
  case message(channel: [UInt8], payload: [UInt8])
  /// A pub/sub message read as ``message(channel:payload:)`` is, on a
  /// channel the reader's ``ChannelKeying`` has a key for
  /// (`HiredisReader.channelKeying`): the key instead of the channel's
  /// bytes, one array fewer a message (~300 instructions at S4).
  case keyedMessage(key: ChannelKey, payload: [UInt8])

  /// The reply as text, for bulk and status replies; `nil` otherwise.
  package var text: String? {
    switch self {
    case .bulk(let bytes): return String(decoding: bytes, as: UTF8.self)
    case .status(let text): return text
    default: return nil
    }
  }

  /// The bytes of a bulk reply; `nil` for every other kind.
  package var bytes: [UInt8]? {
    if case .bulk(let bytes) = self { return bytes }
    return nil
  }
}
