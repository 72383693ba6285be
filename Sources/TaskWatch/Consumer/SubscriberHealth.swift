/// The health clock of a subscriber connection (``BackendLink``'s): after
/// ``ConsumerConfiguration/healthInterval`` without traffic the subscriber is
/// PINGed, and a PING unanswered for ``ConsumerConfiguration/healthTimeout``
/// is a dead link. Any reply counts as traffic, an error reply to the PING
/// too (an ACL user without `+ping` gets `NOPERM`): it proves the link alive.
struct SubscriberHealth {
  /// When the subscriber last received anything.
  private var lastTraffic = Deadline.now
  /// When an unanswered health-check PING was sent.
  private var pingSentAt: Deadline?

  /// Notes that the subscriber received something (or was just connected),
  /// which restarts the clock.
  mutating func noteTraffic() {
    lastTraffic = .now
    pingSentAt = nil
  }

  /// When the check next falls due: the PING to send, or the deadline of
  /// the one sent.
  func checkDue(_ configuration: ConsumerConfiguration) -> Deadline {
    pingSentAt?.adding(seconds: configuration.healthTimeout)
      ?? lastTraffic.adding(seconds: configuration.healthInterval)
  }

  /// Runs the check that fell due: sends the PING with `ping`, or declares
  /// the link dead if the one sent is overdue.
  /// - Throws: `RedisError.connectionLost(endpoint:reason:)` when a PING
  ///   went unanswered, and whatever `ping` throws.
  mutating func check(
    _ configuration: ConsumerConfiguration, endpoint: RedisEndpoint, ping: () throws -> Void
  ) throws {
    if pingSentAt != nil {
      throw RedisError.connectionLost(
        endpoint: endpoint.description, reason: "no reply to PING within \(configuration.healthTimeout)s")
    }
    try ping()
    pingSentAt = .now
  }
}
