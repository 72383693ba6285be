extension ConsumerConfiguration {
  /// Whether the first connection attempt failed because the URL's scheme
  /// does not match what the port speaks: a plain `redis://` URL on a TLS
  /// port (the server closes or resets the connection before answering) or
  /// `rediss://` on a plain port (no answer to the TLS handshake).
  ///
  /// The failure alone cannot tell this from a server going down at that
  /// moment, or a proxy whose upstream is down, so a second connection asks
  /// the port in the other mode: a TLS handshake that gets a certificate
  /// back, or a `PING` that gets any RESP reply. Only that answer makes the
  /// fault final; anything else leaves it a retryable fault.
  /// - Parameter error: the fault of the first attempt.
  /// - Returns: the error to end the run with, or `nil` to retry as usual.
  func tlsModeMismatch(after error: RedisError) -> RedisError? {
    switch error {
    case .connectionLost where backend.tls == nil: return probe(asTLS: true)
    case .connectFailed where backend.tls != nil: return probe(asTLS: false)
    default: return nil
    }
  }

  /// Connects once more in the other mode; the error to end with when the port answers.
  private func probe(asTLS: Bool) -> RedisError? {
    guard let endpoint = try? serverEndpoint(), case .tcp = endpoint else { return nil }
    // A probe on loopback answers in well under a millisecond; give it a
    // little time even when the deadline is about to pass.
    let seconds = min(connectTimeout, max(deadline?.remainingSeconds ?? connectTimeout, 0.25))
    if asTLS {
      guard let context = try? TLSClientContext.shared(for: TLSSettings(certificateRequirement: .none)) else {
        return nil
      }
      do {
        _ = try RedisConnection(endpoint: endpoint, tls: context, connectTimeout: seconds)
      } catch {
        return nil
      }
      return .insecure(
        endpoint: endpoint.description, reason: "this port speaks TLS: use a rediss:// URL (with ssl_cert_reqs)")
    }
    guard let connection = try? RedisConnection(endpoint: endpoint, connectTimeout: seconds) else { return nil }
    guard (try? connection.command(["PING"], until: .after(seconds: seconds))) != nil else { return nil }
    return .insecure(
      endpoint: endpoint.description,
      reason: "this is a plain redis:// port, it does not speak TLS: use redis:// instead of rediss://")
  }
}
