import Testing

@testable import CeleryPayload
@testable import RedisWire
@testable import TaskWatch

@Suite("ReconnectPolicy")
struct ReconnectPolicyTests {
  @Test("delays double from 50 ms, are capped at 2 s, and jitter within [50%, 100%] of the step")
  func backoff() {
    let policy = ReconnectPolicy()
    let steps = [0.05, 0.1, 0.2, 0.4, 0.8, 1.6, 2, 2, 2]
    for (attempt, step) in zip(1..., steps) {
      let samples = (0..<200).map { _ in policy.delay(beforeAttempt: attempt) }
      #expect(samples.allSatisfy { $0 >= step / 2 - 1e-12 && $0 <= step + 1e-12 })
      #expect(Set(samples).count > 1, "the delay is jittered")
    }
    #expect(policy.delay(beforeAttempt: 1_000) <= 2)
  }
}
