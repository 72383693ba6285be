extension ConsumerConfiguration {
  /// Opens one logged-in connection to the result backend's server.
  ///
  /// Shared by every reader of the backend (``ResultConsumer``,
  /// ``GroupResolver``, ``BackendFeed``) so they connect alike: `AUTH` when a
  /// password is set (after the TLS handshake for a TLS backend), a `ROLE` check when the server was found through the
  /// sentinels (a demoted master is a fault), and `SELECT` for the command
  /// connection.
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
      try connection.authenticate(username: backend.username, password: password, until: deadline)
    }
    if backend.usesSentinel { try connection.requireMasterRole(until: deadline) }
    if let database, database != 0 {
      try connection.select(database: database, until: deadline)
    }
    return connection
  }
}
