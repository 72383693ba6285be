/// Finds the current master of a Redis that Redis Sentinel watches.
///
/// The sentinels are asked in order, `SENTINEL get-master-addr-by-name NAME`
/// (after `AUTH` when a sentinel password is set); the first address given
/// wins. A sentinel that cannot be reached, or that answers with an error, is
/// skipped. Whether the address really is a master is checked by whoever
/// connects to it (``RedisConnection/requireMasterRole(until:)``): during a
/// failover a sentinel may still name the old master for a moment.
package struct SentinelResolver: Sendable {
  /// The sentinels, asked in this order.
  package let sentinels: [RedisEndpoint]
  /// The name the sentinels monitor the master under.
  package let masterName: String
  /// The password the sentinels require, if any.
  package let password: String?
  /// Seconds allowed to connect to one sentinel.
  package let connectTimeout: Double
  /// Seconds allowed for one sentinel's replies.
  package let commandTimeout: Double
  /// TLS settings for the sentinels (the backend's: a TLS deployment puts
  /// sentinels and master on TLS alike); `nil` for plain connections.
  package let tls: TLSSettings?

  /// Creates a resolver for the sentinels and master name of a `sentinel://` URL.
  package init(backend: BackendURL, connectTimeout: Double, commandTimeout: Double) {
    sentinels = backend.sentinels
    masterName = backend.masterName ?? ""
    password = backend.sentinelPassword
    self.connectTimeout = connectTimeout
    self.commandTimeout = commandTimeout
    tls = backend.tls
  }

  /// Asks the sentinels where the master is now.
  /// - Throws: ``UnknownMasterError`` when every sentinel that answered knows
  ///   no master of that name (never cured by retrying);
  ///   ``RedisError/authenticationFailed(endpoint:message:)`` when a sentinel
  ///   refuses the sentinel password (``RedisError/insecure(endpoint:reason:)``
  ///   when it cannot be trusted); ``RedisError/connectFailed(endpoint:reason:)``
  ///   (a connection fault, so the caller retries) when no sentinel answered.
  package func masterEndpoint() throws -> RedisEndpoint {
    var lastError: RedisError?
    var answeredUnknown = false
    for sentinel in sentinels {
      do {
        if let master = try askForMaster(sentinel) { return master }
        answeredUnknown = true
      } catch let error as RedisError {
        switch error {
        case .authenticationFailed, .insecure: throw error
        default: break
        }
        lastError = error
      }
    }
    if answeredUnknown {
      throw UnknownMasterError(masterName: masterName, sentinels: sentinels.map(\.description))
    }
    throw RedisError.connectFailed(
      endpoint: "sentinels " + sentinels.map(\.description).joined(separator: ", "),
      reason: "no sentinel answered" + (lastError.map { "; last error: \($0)" } ?? ""))
  }

  /// One sentinel's answer: the master's address, or `nil` for an unknown name.
  private func askForMaster(_ sentinel: RedisEndpoint) throws -> RedisEndpoint? {
    let context = try tls.map { settings throws(TLSSetupError) in try TLSClientContext.shared(for: settings) }
    let connection = try RedisConnection(endpoint: sentinel, tls: context, connectTimeout: connectTimeout)
    let deadline = Deadline.after(seconds: commandTimeout)
    if let password {
      try connection.authenticate(username: nil, password: password, until: deadline)
    }
    let reply = try connection.command(["SENTINEL", "get-master-addr-by-name", masterName], until: deadline)
    switch reply {
    case .null:
      return nil
    case .array(let parts) where parts.count == 2:
      guard let host = parts[0].text, let port = parts[1].text.flatMap({ Int($0) }) else { break }
      return .tcp(host: host, port: port)
    case .error(let message):
      if RedisError.isAuthenticationError(message) {
        throw RedisError.authenticationFailed(endpoint: sentinel.description, message: message)
      }
      throw RedisError.commandFailed(command: "SENTINEL get-master-addr-by-name", message: message)
    default:
      break
    }
    throw RedisError.commandFailed(command: "SENTINEL get-master-addr-by-name", message: "unexpected reply \(reply)")
  }
}

/// No sentinel monitors a master of the given name: a configuration mistake
/// that no retry can cure.
public struct UnknownMasterError: Error, Sendable, Equatable, CustomStringConvertible {
  /// The master name that was asked for.
  public let masterName: String
  /// The sentinels that were asked, as `host:port`.
  public let sentinels: [String]

  /// Creates the error for a master name no sentinel knows.
  public init(masterName: String, sentinels: [String]) {
    self.masterName = masterName
    self.sentinels = sentinels
  }

  /// A one-line message for the user.
  public var description: String {
    "no sentinel monitors a master named '\(masterName)' (asked \(sentinels.joined(separator: ", ")))"
  }
}

extension RedisConnection {
  /// Sends `ROLE` and fails unless the server is a master.
  ///
  /// A server that a failover turned into a replica still accepts connections
  /// and reads, but it is no longer where results are written.
  /// - Throws: ``RedisError/connectionLost(endpoint:reason:)`` (a connection
  ///   fault, so the caller asks the sentinels again) when it is not a master.
  package func requireMasterRole(until deadline: Deadline) throws {
    let reply = try command(["ROLE"], until: deadline)
    if case .error(let message) = reply {
      if RedisError.isAuthenticationError(message) {
        throw RedisError.authenticationFailed(endpoint: endpoint.description, message: message)
      }
      throw RedisError.commandFailed(command: "ROLE", message: message)
    }
    guard case .array(let parts) = reply, let role = parts.first?.text else {
      throw RedisError.commandFailed(command: "ROLE", message: "unexpected reply \(reply)")
    }
    if role != "master" {
      throw RedisError.connectionLost(
        endpoint: endpoint.description, reason: "ROLE says '\(role)', not master (a failover is under way)")
    }
  }
}
