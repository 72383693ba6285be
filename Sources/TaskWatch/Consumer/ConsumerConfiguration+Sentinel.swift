extension ConsumerConfiguration {
  /// The server to connect to now: the URL's endpoint, or for a `sentinel://`
  /// URL the master the sentinels name at this moment (asked on every call,
  /// so each reconnect follows a failover).
  func serverEndpoint() throws -> RedisEndpoint {
    guard backend.usesSentinel else { return backend.endpoint }
    return try SentinelResolver(backend: backend, connectTimeout: connectTimeout, commandTimeout: commandTimeout)
      .masterEndpoint()
  }
}
