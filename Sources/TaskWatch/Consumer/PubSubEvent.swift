/// What a reply on a subscribed connection means.
enum PubSubEvent {
  /// A `subscribe` confirmation.
  case subscribed
  /// A published message: channel and payload.
  case message(channel: [UInt8], payload: [UInt8])
  /// An error reply (e.g. `NOAUTH` after a server restart).
  case error(String)
  /// Anything else: `unsubscribe` confirmations, `pong`.
  case other

  /// Classifies a RESP2 reply read from a subscribed connection.
  init(_ reply: RedisReply) {
    switch reply {
    case .array(let parts) where parts.count >= 3:
      guard case .bulk(let kind) = parts[0] else {
        self = .other
        return
      }
      if kind.elementsEqual("message".utf8), case .bulk(let channel) = parts[1],
        case .bulk(let payload) = parts[2]
      {
        self = .message(channel: channel, payload: payload)
      } else if kind.elementsEqual("subscribe".utf8) {
        self = .subscribed
      } else {
        self = .other
      }
    case .error(let message):
      self = .error(message)
    default:
      self = .other
    }
  }
}
