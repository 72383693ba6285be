/// A failure talking to Redis, with a message a user understands.
///
/// The cases separate what a caller must treat differently: a connection fault
/// (retry after reconnecting), an authentication refusal (never retried), an
/// error reply (``ServerError``, whose kind says whether to retry), and a
/// reply that makes no sense for the command.
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
  /// The server answered `command` with an error reply other than a refusal
  /// of credentials (made by ``reply(_:to:from:)-(ServerError,_,_)``).
  case rejected(command: String, endpoint: String, ServerError)
  /// The server answered a command with something the command never returns.
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
    case .rejected(let command, let endpoint, let error):
      return "\(endpoint) refused \(command): \(error.message)"
    case .commandFailed(let command, let message):
      return "\(command) failed: \(message)"
    }
  }

  /// True for faults that a reconnect may cure (the link, not the request, is
  /// bad), transient server refusals (``ServerError/Kind/transient``) included.
  public var isConnectionFault: Bool {
    switch self {
    case .connectFailed, .connectionLost, .timedOut: return true
    case .authenticationFailed, .insecure: return false
    case .rejected(_, _, let error): return error.kind == .transient
    // Callers that still put an error reply's text here get the same rule.
    case .commandFailed(_, let message): return ServerError(message).kind == .transient
    }
  }

  /// True when the server rejected what the configuration asks for (a
  /// database number it does not have): a usage mistake, not an outage.
  public var isConfigurationError: Bool {
    if case .rejected(_, _, let error) = self { return error.kind == .configuration }
    return false
  }

  /// Whether the text of an error reply refuses credentials; shorthand for
  /// ``ServerError/kind`` for callers holding only the text.
  static func isAuthenticationError(_ message: String) -> Bool {
    ServerError(message).kind == .authentication
  }
}
