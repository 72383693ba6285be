/// How the consumer retries a lost connection: jittered exponential backoff
/// within a budget of continuous disconnection.
public struct ReconnectPolicy: Sendable, Equatable {
  /// The first delay, in seconds.
  public var initialDelay: Double
  /// The longest delay between two attempts, in seconds.
  public var maximumDelay: Double
  /// How long the consumer may stay disconnected, counted from the first
  /// failed attempt, before it gives up.
  public var retryFor: Double

  /// Creates a policy; the defaults are the CLI's (50 ms doubling up to 2 s, for 30 s).
  public init(initialDelay: Double = 0.05, maximumDelay: Double = 2, retryFor: Double = 30) {
    self.initialDelay = initialDelay
    self.maximumDelay = maximumDelay
    self.retryFor = retryFor
  }

  /// The pause before attempt `attempt` (1 is the first retry): the exponential
  /// step capped at ``maximumDelay``, then scaled by a random factor in
  /// [0.5, 1], so many watchers cut off together do not reconnect in lockstep.
  public func delay(beforeAttempt attempt: Int) -> Double {
    var generator = SystemRandomNumberGenerator()
    return delay(beforeAttempt: attempt, using: &generator)
  }

  /// ``delay(beforeAttempt:)`` with a caller's random source (for tests).
  public func delay<Generator: RandomNumberGenerator>(
    beforeAttempt attempt: Int, using generator: inout Generator
  ) -> Double {
    let exponent = Double(min(max(attempt - 1, 0), 30))
    let step = min(maximumDelay, initialDelay * pow2(exponent))
    return step * Double.random(in: 0.5...1, using: &generator)
  }

  private func pow2(_ exponent: Double) -> Double {
    var value = 1.0
    for _ in 0..<Int(exponent) { value *= 2 }
    return value
  }
}
