/// Why the consumer stopped trying, beyond the errors of a single connection.
public enum ConsumerError: Error, Sendable, Equatable, CustomStringConvertible {
  /// Redis stayed unreachable for the whole retry budget.
  case unavailable(endpoint: String, seconds: Double, lastError: RedisError)
  /// The caller's overall deadline passed while the consumer was reconnecting.
  case deadlinePassed
  /// The caller's interruption check asked the consumer to stop waiting.
  case interrupted

  /// A one-line message for the user.
  public var description: String {
    switch self {
    case .unavailable(let endpoint, let seconds, let lastError):
      let rounded = (seconds * 10).rounded() / 10
      return "gave up after \(rounded)s without a working connection to \(endpoint); last error: \(lastError)"
    case .deadlinePassed:
      return "the deadline passed while reconnecting"
    case .interrupted:
      return "interrupted"
    }
  }
}
