import Foundation
import Testing

@testable import CeleryPayload
@testable import RedisWire
@testable import TaskWatch

/// The engine's timing steps without a server: the health clock and the
/// outage's retry loop.
@Suite("The engine's health clock and retry loop")
struct EngineClockTests {
  private let configuration = ConsumerConfiguration(
    backend: BackendURL(endpoint: .tcp(host: "127.0.0.1", port: 1), database: 0),
    reconnectPolicy: ReconnectPolicy(initialDelay: 0.01, maximumDelay: 0.02, retryFor: 0.3),
    healthInterval: 0.05, healthTimeout: 0.02)

  @Test("idle: PING after the interval; a PING unanswered past the timeout is a dead link; traffic resets")
  func healthClock() throws {
    var health = SubscriberHealth()
    let endpoint = RedisEndpoint.tcp(host: "127.0.0.1", port: 1)
    #expect(!health.checkDue(configuration).hasPassed)
    var pings = 0
    try health.check(configuration, endpoint: endpoint) { pings += 1 }
    #expect(pings == 1)
    let due = health.checkDue(configuration)
    #expect(due.remainingSeconds <= 0.021, "the PING's answer is due within healthTimeout")
    #expect(throws: RedisError.self) {
      try health.check(configuration, endpoint: endpoint) { pings += 1 }
    }
    #expect(pings == 1, "no second PING while one is unanswered")
    health.noteTraffic()
    try health.check(configuration, endpoint: endpoint) { pings += 1 }
    #expect(pings == 2)
  }

  @Test("retry: connection faults back off and retry until one attempt succeeds")
  func retriesUntilSuccess() throws {
    let fault = RedisError.connectFailed(endpoint: "h:1", reason: "connection refused")
    var outage = Outage(after: fault, policy: configuration.reconnectPolicy)
    var attempts = 0
    var dropped = 0
    let result = try outage.retry(
      configuration, until: .after(seconds: 5),
      attempt: { () throws -> String in
        attempts += 1
        if attempts < 3 { throw fault }
        return "back"
      }, afterFailure: { dropped += 1 })
    #expect(result == "back")
    #expect(attempts == 3 && dropped == 2)
    #expect(outage.isOver)
  }

  @Test("retry: the budget ends in ConsumerError.unavailable with the last error; a refusal ends it at once")
  func budgetAndRefusal() throws {
    let fault = RedisError.connectFailed(endpoint: "h:1", reason: "connection refused")
    var outage = Outage(after: fault, policy: configuration.reconnectPolicy)
    #expect(throws: ConsumerError.self) {
      _ = try outage.retry(
        configuration, until: .after(seconds: 5), attempt: { () throws -> Int in throw fault }, afterFailure: {})
    }
    let refused = RedisError.authenticationFailed(endpoint: "h:1", message: "NOAUTH Authentication required.")
    var second = Outage(after: fault, policy: configuration.reconnectPolicy)
    var attempts = 0
    #expect(throws: refused) {
      _ = try second.retry(
        configuration, until: .after(seconds: 5),
        attempt: { () throws -> Int in
          attempts += 1
          throw refused
        }, afterFailure: {})
    }
    #expect(attempts == 1)
  }

  @Test("retry: returns nil at the call's deadline while still disconnected, without spinning")
  func callDeadline() throws {
    let fault = RedisError.connectFailed(endpoint: "h:1", reason: "connection refused")
    let slow = ConsumerConfiguration(
      backend: configuration.backend, reconnectPolicy: ReconnectPolicy(initialDelay: 5, maximumDelay: 5, retryFor: 30))
    var outage = Outage(after: fault, policy: slow.reconnectPolicy)
    let started = Deadline.now
    var attempts = 0
    let result = try outage.retry(
      slow, until: .after(seconds: 0.1),
      attempt: { () throws -> Int in
        attempts += 1
        return 1
      }, afterFailure: {})
    #expect(result == nil && attempts == 0)
    #expect(started.secondsAgo >= 0.09)
  }
}
