import Foundation
import TestSupport
import Testing

@testable import CeleryPayload
@testable import RedisWire
@testable import TaskWatch

/// The watcher's promises about time, measured: cancellation ends a wait
/// within 100 ms, and waiting watchers leave the cooperative pool free.
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
      // Cancel at a random point of the engine's wait slice.
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

  @Test("cancelling a watch that is retrying an unreachable server ends it within 100 ms too")
  func cancellationDuringOutage() async throws {
    let port = try FreePort.pick()
    var configuration = ConsumerConfiguration(backend: BackendURL(endpoint: .tcp(host: "127.0.0.1", port: port)))
    configuration.timing.retryFor = .seconds(60)
    let watcher = TaskWatcher(configuration: configuration)
    let lost = AsyncStream<Void>.makeStream()
    let watch = Task { () -> TaskWatchError.Code? in
      do throws(TaskWatchError) {
        for try await event in watcher.events(for: [UUID().uuidString], timeout: .seconds(60)) {
          if case .diagnostic(.connectionLost) = event { lost.continuation.yield() }
        }
        return nil
      } catch {
        return error.code
      }
    }
    var lostSeen = lost.stream.makeAsyncIterator()
    _ = await lostSeen.next()
    try await Task.sleep(for: .milliseconds(Int.random(in: 100...200)))
    let cancelled = ContinuousClock.now
    watch.cancel()
    #expect(await watch.value == .cancelled)
    let latency = ContinuousClock.now - cancelled
    print("cancellation latency while reconnecting: \(latency)")
    #expect(latency < .milliseconds(100))
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
