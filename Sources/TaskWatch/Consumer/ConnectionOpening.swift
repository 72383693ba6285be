extension ConsumerConfiguration {
  /// Opens one logged-in connection to the result backend's server.
  ///
  /// Used by ``BackendLink`` for both of its connections: `AUTH` when a
  /// password is set (after the TLS handshake for a TLS backend), a `ROLE`
  /// check when the server was found through the sentinels (a demoted master
  /// is a fault), and `SELECT` for the command connection. Error replies go
  /// through `RedisError.reply(_:to:from:)`: a refused
  /// password is an authentication failure, `LOADING` a transient fault, a
  /// database number the server does not have a configuration error.
  /// - Parameters:
  ///   - endpoint: the server, from ``serverEndpoint()``.
  ///   - database: the database to `SELECT`; `nil` for a subscriber (pub/sub
  ///     ignores the database).
  func openConnection(
    to endpoint: RedisEndpoint, selecting database: Int?, until deadline: Deadline
  ) throws -> RedisConnection {
    let tls = try backend.tls.map { settings throws(TLSSetupError) in try TLSClientContext.shared(for: settings) }
    // The overall deadline bounds the connect and the TLS handshake too.
    let remaining = self.deadline.map { max($0.remainingSeconds, 0.001) } ?? connectTimeout
    let deadline = self.deadline.map { min($0, deadline) } ?? deadline
    let connection = try RedisConnection(
      endpoint: endpoint, tls: tls, connectTimeout: min(connectTimeout, remaining))
    if let password = backend.password {
      let arguments = ["AUTH"] + (backend.username.map { [$0] } ?? []) + [password]
      if case .error(let message) = try connection.command(arguments, until: deadline) {
        let error = ServerError(message)
        // Any other refusal of AUTH is about the credentials too.
        guard error.kind == .transient else {
          throw RedisError.authenticationFailed(endpoint: endpoint.description, message: message)
        }
        throw RedisError.reply(error, to: "AUTH", from: endpoint.description)
      }
    }
    if backend.usesSentinel { try connection.requireMasterRole(until: deadline) }
    if let database, database != 0 {
      let command = "SELECT \(database)"
      if case .error(let message) = try connection.command(["SELECT", String(database)], until: deadline) {
        throw RedisError.reply(message, to: command, from: endpoint.description)
      }
    }
    return connection
  }
}
