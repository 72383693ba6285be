/// The health check of a subscriber connection, the same for every reader of
/// the backend (``ResultConsumer``, ``BackendFeed``): after
/// ``ConsumerConfiguration/healthInterval`` without traffic the subscriber is
/// PINGed, and a PING unanswered for ``ConsumerConfiguration/healthTimeout``
/// is a dead link.
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

  /// Waits until `callDeadline` for the subscriber's next reply, running the
  /// health check whenever it falls due meanwhile.
  /// - Parameter beforePing: a further check of the link before each PING.
  /// - Returns: the reply, or `nil` when none came in time.
  /// - Throws: ``RedisError/connectionLost(endpoint:reason:)`` when a PING
  ///   went unanswered, and whatever `beforePing` or the connection throws.
  mutating func nextReply(
    from subscriber: RedisConnection, until callDeadline: Deadline, _ configuration: ConsumerConfiguration,
    beforePing: () throws -> Void = {}
  ) throws -> RedisReply? {
    let checkDue =
      pingSentAt?.adding(seconds: configuration.healthTimeout)
      ?? lastTraffic.adding(seconds: configuration.healthInterval)
    guard let reply = try subscriber.nextReply(until: min(callDeadline, checkDue)) else {
      if checkDue.hasPassed { try check(subscriber, configuration, beforePing: beforePing) }
      return nil
    }
    noteTraffic()
    return reply
  }

  /// Sends the health-check PING, or declares the link dead if one is overdue.
  private mutating func check(
    _ subscriber: RedisConnection, _ configuration: ConsumerConfiguration, beforePing: () throws -> Void
  ) throws {
    if pingSentAt != nil {
      throw RedisError.connectionLost(
        endpoint: subscriber.endpoint.description,
        reason: "no reply to PING within \(configuration.healthTimeout)s")
    }
    try beforePing()
    subscriber.append(["PING"])
    try subscriber.flush(until: .after(seconds: configuration.healthTimeout))
    pingSentAt = .now
  }
}
