import Testing

@testable import CeleryPayload
@testable import RedisWire
@testable import TaskWatch

@Suite("ConsumerConfiguration.timing: the seconds settings as Durations")
struct ConsumerTimingTests {
  private let backend = BackendURL(endpoint: .tcp(host: "127.0.0.1", port: 1))

  @Test("the defaults are the CLI's, in both spellings")
  func defaults() {
    #expect(ConsumerConfiguration(backend: backend).timing == ConsumerConfiguration.Timing())
    let configuration = ConsumerConfiguration(backend: backend, timing: .init())
    #expect(configuration.connectTimeout == 5 && configuration.healthInterval == 5)
    #expect(configuration.reconnectPolicy == ReconnectPolicy())
  }

  @Test("writing a Duration sets the seconds setting, and reads back")
  func roundTrip() {
    var configuration = ConsumerConfiguration(backend: backend)
    configuration.timing.retryFor = .milliseconds(1500)
    configuration.timing.healthTimeout = .microseconds(250)
    configuration.timing.commandTimeout = .seconds(3)
    #expect(configuration.reconnectPolicy.retryFor == 1.5)
    #expect(configuration.healthTimeout == 0.00025)
    #expect(configuration.commandTimeout == 3)
    #expect(configuration.timing.retryFor == .milliseconds(1500))
    #expect(configuration.timing.commandTimeout == .seconds(3))
  }

  @Test("seconds no Duration can hold are clamped, not a crash")
  func clamped() {
    var configuration = ConsumerConfiguration(backend: backend)
    configuration.reconnectPolicy.retryFor = .infinity
    configuration.healthInterval = -1
    #expect(configuration.timing.retryFor == .seconds(1_000_000_000))
    #expect(configuration.timing.healthInterval == .zero)
  }
}
