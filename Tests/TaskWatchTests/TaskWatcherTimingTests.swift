import Foundation
import Synchronization
import TestSupport
import Testing

@testable import CeleryPayload
@testable import RedisWire
@testable import TaskWatch

/// The watcher's promises about time, measured: cancellation ends every kind
/// of wait of the engine within 100 ms (the worst of several tries of each),
/// and waiting watchers leave the cooperative pool free.
///
/// Enabled with `TASKWATCH_TIMING_TESTS=1`, which `scripts/test` sets when it
/// runs this suite alone: other suites block pool threads on purpose (the
/// synchronous ``ResultConsumer`` tests), and a parallel run would measure
/// them, not the watcher. Each test prints its figures.
@Suite(
  "TaskWatcher timing", .serialized,
  .enabled(if: ProcessInfo.processInfo.environment["TASKWATCH_TIMING_TESTS"] == "1"))
struct TaskWatcherTimingTests {
  let server = SharedRedis.server

  private var watcher: TaskWatcher {
    TaskWatcher(configuration: ConsumerConfiguration(backend: BackendURL(endpoint: server.endpoint)))
  }

  /// Starts watching `id` in a task of its own and returns once the watch
  /// has subscribed (the watch is then blocked in its engine's wait).
  private func waitingWatch(_ id: String) async throws -> Task<TaskWatchError.Code?, Never> {
    let watch = Task { [watcher] () -> TaskWatchError.Code? in
      do throws(TaskWatchError) {
        for try await _ in watcher.events(for: [id], timeout: .seconds(60)) {}
        return nil
      } catch {
        return error.code
      }
    }
    let deadline = Deadline.after(seconds: 10)
    while try server.subscriberCount(channel: "celery-task-meta-\(id)") == 0 {
      guard !deadline.hasPassed else { throw TestSupportError("the watch of \(id) never subscribed") }
      try await Task.sleep(for: .milliseconds(5))
    }
    return watch
  }

  @Test("cancelling the waiting task ends the wait within 100 ms, with code cancelled and both connections closed")
  func cancellationLatency() async throws {
    var latencies = [Duration]()
    for _ in 0..<10 {
      let id = UUID().uuidString
      let watch = try await waitingWatch(id)
      // Cancel at a random point of the engine's wait.
      try await Task.sleep(for: .milliseconds(Int.random(in: 0...60)))
      let cancelled = ContinuousClock.now
      watch.cancel()
      let code = await watch.value
      latencies.append(ContinuousClock.now - cancelled)
      #expect(code == .cancelled)
      // next() returned after the engine closed its sockets; the server
      // notices the closed subscriber as soon as it reads the EOF.
      let deadline = Deadline.after(seconds: 2)
      while try server.subscriberCount(channel: "celery-task-meta-\(id)") != 0 && !deadline.hasPassed {
        try await Task.sleep(for: .milliseconds(1))
      }
      #expect(try server.subscriberCount(channel: "celery-task-meta-\(id)") == 0)
    }
    let worst = latencies.max()!
    print("cancellation latency over \(latencies.count) waits: worst \(worst), all \(latencies)")
    #expect(worst < .milliseconds(100))
  }

  /// Runs a watch of `id` with `configuration`, cancels it at a random
  /// moment once `isWaiting` says the engine is in the wait under test, and
  /// returns how long the watch then took to end (with code `cancelled`).
  /// - Parameter onChange: called for each change the watch delivers.
  private func cancellationLatency(
    watching id: String = UUID().uuidString, with configuration: ConsumerConfiguration,
    onChange: @escaping @Sendable () -> Void = {}, waitingWhen isWaiting: () throws -> Bool
  ) async throws -> Duration {
    let watcher = TaskWatcher(configuration: configuration)
    let watch = Task { () -> TaskWatchError.Code? in
      do throws(TaskWatchError) {
        for try await event in watcher.events(for: [id], timeout: .seconds(120)) {
          if case .change = event { onChange() }
        }
        return nil
      } catch {
        return error.code
      }
    }
    let deadline = Deadline.after(seconds: 20)
    while try !isWaiting() {
      guard !deadline.hasPassed else {
        watch.cancel()
        throw TestSupportError("the watch never reached the wait under test")
      }
      try await Task.sleep(for: .milliseconds(2))
    }
    try await Task.sleep(for: .milliseconds(Int.random(in: 0...30)))
    let cancelled = ContinuousClock.now
    watch.cancel()
    let code = await watch.value
    let latency = ContinuousClock.now - cancelled
    #expect(code == .cancelled)
    return latency
  }

  /// A configuration whose timeouts and retry budget all outlast the test, so
  /// only the cancellation can end a wait.
  private func patient(_ endpoint: RedisEndpoint, tls: Bool = false) throws -> ConsumerConfiguration {
    let url =
      tls
      ? try BackendURL.parse("rediss://\(endpoint)/0?ssl_cert_reqs=none")
      : BackendURL(endpoint: endpoint)
    return ConsumerConfiguration(
      backend: url,
      timing: .init(
        connectTimeout: .seconds(60), commandTimeout: .seconds(60), healthTimeout: .seconds(60),
        retryFor: .seconds(120)))
  }

  private func report(_ wait: String, _ latencies: [Duration]) {
    let worst = latencies.max()!
    print("cancellation latency \(wait), worst of \(latencies.count): \(worst), all \(latencies)")
    #expect(worst < .milliseconds(100), "\(wait)")
  }

  @Test("cancelling a connect that the host never answers ends it within 100 ms")
  func cancellationWhileConnecting() async throws {
    var latencies = [Duration]()
    for _ in 0..<5 {
      let silent = try SilentListener(.unansweredConnect)
      latencies.append(
        try await cancellationLatency(with: patient(.tcp(host: "127.0.0.1", port: silent.port))) {
          try silent.unansweredConnects() > 0
        })
    }
    report("while connecting (SYN never answered)", latencies)
  }

  @Test("cancelling a TLS handshake that the server never answers ends it within 100 ms")
  func cancellationDuringTLSHandshake() async throws {
    var latencies = [Duration]()
    for _ in 0..<5 {
      let silent = try SilentListener(.acceptedButSilent)
      latencies.append(
        try await cancellationLatency(with: patient(.tcp(host: "127.0.0.1", port: silent.port), tls: true)) {
          try silent.establishedConnections() > 0
        })
    }
    report("during the TLS handshake", latencies)
  }

  @Test("cancelling while the SUBSCRIBE confirmations are held back ends the wait within 100 ms")
  func cancellationDuringSubscribe() async throws {
    var latencies = [Duration]()
    for _ in 0..<5 {
      let proxy = try FaultProxy(upstreamPort: server.port)
      proxy.pauseReplies(toConnection: 0)
      let id = UUID().uuidString
      latencies.append(
        try await cancellationLatency(watching: id, with: patient(.tcp(host: "127.0.0.1", port: proxy.port))) {
          try server.subscriberCount(channel: "celery-task-meta-\(id)") > 0
        })
    }
    report("during SUBSCRIBE confirmations", latencies)
  }

  @Test("cancelling while the MGET reply is held back ends the wait within 100 ms")
  func cancellationDuringFetch() async throws {
    var latencies = [Duration]()
    for _ in 0..<5 {
      let proxy = try FaultProxy(upstreamPort: server.port)
      proxy.pauseReplies(toConnection: 1)
      try await waitUntilGone(running: "mget")
      latencies.append(
        try await cancellationLatency(with: patient(.tcp(host: "127.0.0.1", port: proxy.port))) {
          try clients(running: "mget") > 0
        })
    }
    report("during MGET", latencies)
  }

  @Test("cancelling while a health PING goes unanswered ends the wait within 100 ms")
  func cancellationDuringHealthCheck() async throws {
    var latencies = [Duration]()
    for _ in 0..<3 {
      let proxy = try FaultProxy(upstreamPort: server.port)
      var configuration = try patient(.tcp(host: "127.0.0.1", port: proxy.port))
      configuration.timing.healthInterval = .milliseconds(300)
      try await waitUntilGone(running: "ping")
      // The snapshot is in: from now on the subscriber's answers are held.
      latencies.append(
        try await cancellationLatency(with: configuration, onChange: { proxy.pauseReplies(toConnection: 0) }) {
          try clients(running: "ping") > 0
        })
    }
    report("while a health PING is unanswered", latencies)
  }

  @Test("cancelling a watch in the pause between reconnect attempts ends it within 100 ms")
  func cancellationDuringBackoff() async throws {
    var latencies = [Duration]()
    for _ in 0..<5 {
      var configuration = try patient(.tcp(host: "127.0.0.1", port: try FreePort.pick()))
      // The next attempt is 10 s away: the engine sleeps until then.
      configuration.timing.reconnectInitialDelay = .seconds(10)
      configuration.timing.reconnectMaximumDelay = .seconds(10)
      let lost = Mutex(false)
      let watcher = TaskWatcher(configuration: configuration)
      let watch = Task { () -> TaskWatchError.Code? in
        do throws(TaskWatchError) {
          for try await event in watcher.events(for: [UUID().uuidString], timeout: .seconds(120)) {
            if case .diagnostic(.connectionLost) = event { lost.withLock { $0 = true } }
          }
          return nil
        } catch {
          return error.code
        }
      }
      let deadline = Deadline.after(seconds: 20)
      while !lost.withLock({ $0 }) && !deadline.hasPassed { try await Task.sleep(for: .milliseconds(2)) }
      #expect(lost.withLock { $0 })
      try await Task.sleep(for: .milliseconds(Int.random(in: 0...100)))
      let cancelled = ContinuousClock.now
      watch.cancel()
      #expect(await watch.value == .cancelled)
      latencies.append(ContinuousClock.now - cancelled)
    }
    report("in the reconnect backoff", latencies)
  }

  /// Waits until the connections of earlier rounds whose last command was
  /// `command` are closed, so that a client running it is this round's.
  private func waitUntilGone(running command: String) async throws {
    let deadline = Deadline.after(seconds: 10)
    while try clients(running: command) > 0 {
      guard !deadline.hasPassed else { throw TestSupportError("clients running \(command) stay connected") }
      try await Task.sleep(for: .milliseconds(2))
    }
  }

  /// Clients of the test server whose last command was `command` (lower case).
  private func clients(running command: String) throws -> Int {
    guard case .bulk(let list) = try server.run(["CLIENT", "LIST"]) else { return 0 }
    return String(decoding: list, as: UTF8.self).split(separator: "\n").filter {
      $0.contains(" cmd=\(command) ") || $0.hasSuffix(" cmd=\(command)")
    }.count
  }

  @Test("while four watchers wait, a task ticking every 10 ms sees no gap over 50 ms")
  func noStarvation() async throws {
    let ids = (0..<4).map { _ in UUID().uuidString }
    var watches = [Task<TaskWatchError.Code?, Never>]()
    for id in ids { watches.append(try await waitingWatch(id)) }
    let clock = ContinuousClock()
    var worstGap = Duration.zero
    var last = clock.now
    for _ in 0..<200 {
      try await Task.sleep(for: .milliseconds(10))
      let now = clock.now
      worstGap = max(worstGap, now - last)
      last = now
    }
    for watch in watches { watch.cancel() }
    for watch in watches { #expect(await watch.value == .cancelled) }
    print("worst gap between 10 ms ticks over 2 s with 4 waiting watchers: \(worstGap)")
    #expect(worstGap < .milliseconds(50))
  }
}
