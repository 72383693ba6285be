/// An error reply from a Redis server, parsed once into its code and message.
///
/// Redis starts every error reply with an upper-case code (`NOAUTH`,
/// `WRONGPASS`, `LOADING`, `MOVED 3999 127.0.0.1:6381`, generic `ERR`, …).
/// Every reader of the backend classifies a reply through this one value and
/// switches on ``kind``: refused credentials end the run, transient refusals
/// are retried like a lost connection, configuration mistakes are the user's
/// to fix.
public struct ServerError: Error, Sendable, Equatable, CustomStringConvertible {
  /// The codes the readers tell apart; anything else is ``other``.
  public enum Code: String, Sendable, CaseIterable {
    /// The server wants a password and none was sent (or it was reset).
    case noauth = "NOAUTH"
    /// The username or password is wrong.
    case wrongpass = "WRONGPASS"
    /// The ACL user may not run the command or touch the key or channel.
    case noperm = "NOPERM"
    /// The server is still loading its data set.
    case loading = "LOADING"
    /// Cluster: the key's slot lives on another node, for good.
    case moved = "MOVED"
    /// Cluster: the key's slot is migrating; ask the other node once.
    case ask = "ASK"
    /// A script or function is running and blocks the server.
    case busy = "BUSY"
    /// A replica lost its master (`replica-serve-stale-data no`).
    case masterdown = "MASTERDOWN"
    /// A write went to a replica (e.g. a demoted master after a failover).
    case readonly = "READONLY"
    /// Cluster: a multi-key command's slot is being resharded.
    case tryagain = "TRYAGAIN"
    /// Cluster: the cluster cannot serve the slot.
    case clusterdown = "CLUSTERDOWN"
    /// The generic error code.
    case err = "ERR"
    /// A code not listed here (see ``ServerError/codeText``).
    case other = ""
  }

  /// What a reader does about an error.
  public enum Kind: Sendable, Equatable {
    /// The credentials were refused: no retry can cure it.
    case authentication
    /// "Not now": the server is loading, busy or failing over; retry as
    /// after a lost connection.
    case transient
    /// The server rejects what the configuration asks for (a database
    /// number it does not have): the user must change the settings.
    case configuration
    /// Cluster redirection (`MOVED`, `ASK`): the key lives elsewhere.
    case redirection
    /// Any other refusal of the request.
    case request
  }

  /// The parsed code.
  public let code: Code
  /// The code as the server wrote it (the reply's first word).
  public let codeText: String
  /// The whole reply text, code included, as the server sent it.
  public let message: String
  /// What a reader does about it, from the code (and, for `ERR`, the few
  /// messages that are about credentials or configuration).
  public let kind: Kind

  /// Parses the text of an error reply.
  public init(_ message: String) {
    self.message = message
    let firstWord = message.prefix { $0 != " " }
    codeText = String(firstWord)
    code = Code(rawValue: codeText) ?? .other
    kind = Self.kind(of: code, message: message)
  }

  private static func kind(of code: Code, message: String) -> Kind {
    switch code {
    case .noauth, .wrongpass, .noperm:
      return .authentication
    case .loading, .busy, .masterdown, .readonly, .tryagain, .clusterdown:
      return .transient
    case .moved, .ask:
      return .redirection
    case .err:
      // Servers before ACLs (and some proxies) refuse credentials with ERR.
      if message.hasPrefix("ERR invalid password") || message.hasPrefix("ERR AUTH")
        || message.hasPrefix("ERR Client sent AUTH")
      {
        return .authentication
      }
      if message.hasPrefix("ERR DB index is out of range") || message.hasPrefix("ERR invalid DB index") {
        return .configuration
      }
      return .request
    case .other:
      return .request
    }
  }

  /// The reply text.
  public var description: String { message }
}

extension RedisError {
  /// The error for an error reply to `command`: the one place where replies
  /// become errors. Refused credentials are
  /// ``authenticationFailed(endpoint:message:)``; everything else is
  /// ``rejected(command:endpoint:_:)`` carrying the parsed reply.
  public static func reply(_ error: ServerError, to command: String, from endpoint: String) -> RedisError {
    error.kind == .authentication
      ? .authenticationFailed(endpoint: endpoint, message: error.message)
      : .rejected(command: command, endpoint: endpoint, error)
  }

  /// ``reply(_:to:from:)`` for the text of an error reply.
  public static func reply(_ message: String, to command: String, from endpoint: String) -> RedisError {
    reply(ServerError(message), to: command, from: endpoint)
  }
}
