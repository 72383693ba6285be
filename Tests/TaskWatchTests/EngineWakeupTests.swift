import Foundation
import Glibc
import Testing

@testable import RedisWire

/// The engine's wake-up without a server: a pipe whose readiness ends a
/// `poll()` that would otherwise wait, and nothing else.
@Suite("EngineWakeup")
struct EngineWakeupTests {
  /// A pipe to poll as the engine polls a socket.
  private struct Pipe: ~Copyable {
    let readEnd: Int32
    let writeEnd: Int32
    init() {
      var ends: [Int32] = [-1, -1]
      precondition(pipe(&ends) == 0)
      (readEnd, writeEnd) = (ends[0], ends[1])
    }
    deinit {
      close(readEnd)
      close(writeEnd)
    }
  }

  @Test("before a cancellation, poll reports the descriptor's own readiness and timeouts as poll does")
  func pollsLikePoll() throws {
    let wakeup = try EngineWakeup()
    let socket = Pipe()
    var entry = pollfd(fd: socket.readEnd, events: Int16(POLLIN), revents: 0)
    #expect(try wakeup.poll(&entry, milliseconds: 20) == 0)
    var byte: UInt8 = 7
    #expect(write(socket.writeEnd, &byte, 1) == 1)
    #expect(try wakeup.poll(&entry, milliseconds: 1000) == 1)
    #expect(entry.revents & Int16(POLLIN) != 0)
    #expect(!wakeup.isCancelled)
  }

  @Test("a cancellation from another thread ends a poll without a time limit, and every later wait at once")
  func cancelEndsWaits() throws {
    let wakeup = try EngineWakeup()
    let socket = Pipe()
    let started = ContinuousClock.now
    Thread.detachNewThread {
      usleep(50_000)
      wakeup.cancel()
    }
    var entry = pollfd(fd: socket.readEnd, events: Int16(POLLIN), revents: 0)
    #expect(throws: WakeupError.cancelled) { _ = try wakeup.poll(&entry, milliseconds: -1) }
    #expect(ContinuousClock.now - started < .seconds(5))
    #expect(wakeup.isCancelled)
    // The byte is never read: the wake-up stays readable.
    #expect(throws: WakeupError.cancelled) { _ = try wakeup.poll(&entry, milliseconds: -1) }
    #expect(throws: WakeupError.cancelled) { try wakeup.sleep(until: .after(seconds: 60)) }
    wakeup.cancel()
  }

  @Test("SystemCall.poll with a wake-up: the descriptor's readiness before a cancellation, .woken after it")
  func systemCallPollReportsWoken() throws {
    let wakeup = try EngineWakeup()
    let socket = Pipe()
    let events = Int16(POLLIN)
    #expect(SystemCall.poll(socket.readEnd, for: events, until: .after(seconds: 0.02), wakeup: wakeup) == .timedOut)
    var byte: UInt8 = 7
    #expect(write(socket.writeEnd, &byte, 1) == 1)
    #expect(SystemCall.poll(socket.readEnd, for: events, until: .after(seconds: 1), wakeup: wakeup) == .ready(events))
    wakeup.cancel()
    // The wake-up wins even over a descriptor that is ready too.
    #expect(SystemCall.poll(socket.readEnd, for: events, until: .after(seconds: 60), wakeup: wakeup) == .woken)
  }

  @Test("sleep waits until its deadline when nothing cancels it")
  func sleepWaits() throws {
    let wakeup = try EngineWakeup()
    let started = ContinuousClock.now
    try wakeup.sleep(until: .after(seconds: 0.05))
    #expect(ContinuousClock.now - started >= .milliseconds(50))
  }
}
