/// A failure talking to Redis, with a message a user understands.
///
/// The cases separate what a caller must treat differently: a connection fault
/// (retry after reconnecting), an authentication refusal (never retried), and an
/// error reply to a command.
public enum RedisError: Error, Sendable, Equatable, CustomStringConvertible {
  /// The connection could not be made: `cannot connect to 127.0.0.1:6390: connection refused`.
  case connectFailed(endpoint: String, reason: String)
  /// An established connection broke (EOF, reset, IO error, protocol error).
  case connectionLost(endpoint: String, reason: String)
  /// The server cannot be reached securely: its certificate is not trusted or
  /// does not name the host, it does not speak TLS, or it refused the session.
  /// Never retried.
  case insecure(endpoint: String, reason: String)
  /// A reply did not arrive before its deadline.
  case timedOut(endpoint: String, operation: String)
  /// The server refused our credentials (`NOAUTH`, `WRONGPASS`, `NOPERM`).
  case authenticationFailed(endpoint: String, message: String)
  /// The server answered a command with an error reply.
  case commandFailed(command: String, message: String)

  /// A human-readable one-line description.
  public var description: String {
    switch self {
    case .connectFailed(let endpoint, let reason):
      return "cannot connect to \(endpoint): \(reason)"
    case .connectionLost(let endpoint, let reason):
      return "connection to \(endpoint) lost: \(reason)"
    case .insecure(let endpoint, let reason):
      return "cannot connect securely to \(endpoint): \(reason)"
    case .timedOut(let endpoint, let operation):
      return "\(endpoint) did not answer \(operation) in time"
    case .authenticationFailed(let endpoint, let message):
      return "authentication to \(endpoint) refused: \(message)"
    case .commandFailed(let command, let message):
      return "\(command) failed: \(message)"
    }
  }

  /// True for faults that a reconnect may cure (the link, not the request, is bad).
  public var isConnectionFault: Bool {
    switch self {
    case .connectFailed, .connectionLost, .timedOut: return true
    case .authenticationFailed, .insecure: return false
    case .commandFailed(_, let message): return Self.isTransientServerError(message)
    }
  }

  /// Error replies that mean "not now" rather than "never": the server is still
  /// loading its data set, or a replica is syncing or read-only after a failover.
  static func isTransientServerError(_ message: String) -> Bool {
    message.hasPrefix("LOADING") || message.hasPrefix("MASTERDOWN")
      || message.hasPrefix("READONLY") || message.hasPrefix("TRYAGAIN")
  }

  /// Error replies that mean the credentials were refused.
  static func isAuthenticationError(_ message: String) -> Bool {
    message.hasPrefix("NOAUTH") || message.hasPrefix("WRONGPASS")
      || message.hasPrefix("NOPERM") || message.hasPrefix("ERR invalid password")
      || message.hasPrefix("ERR AUTH") || message.hasPrefix("ERR Client sent AUTH")
  }
}
