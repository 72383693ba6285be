import Foundation
import Testing

@testable import CeleryPayload
@testable import RedisWire
@testable import TaskWatch

@Suite("SystemCall: the poll/EINTR funnel (no server)")
struct SystemCallTests {
  /// A pipe, closed when the test ends.
  private final class Pipe {
    let read: Int32
    let write: Int32
    init() throws {
      var ends: [Int32] = [0, 0]
      guard pipe(&ends) == 0 else { throw Errno(code: errno) }
      read = ends[0]
      write = ends[1]
    }
    deinit {
      close(read)
      close(write)
    }
  }

  /// A flag guarded by its condition.
  private final class Flag: @unchecked Sendable {
    let condition = NSCondition()
    var isSet = false
  }

  @Test("retryingInterrupts calls again on EINTR only, and returns the errno of any other failure")
  func retrying() {
    var calls = 0
    let value = SystemCall.retryingInterrupts {
      calls += 1
      guard calls > 2 else {
        errno = EINTR
        return -1
      }
      return 5
    }
    #expect(value == .success(5))
    #expect(calls == 3)
    let failure = SystemCall.retryingInterrupts {
      errno = EAGAIN
      return -1
    }
    #expect(failure == .failure(Errno(code: EAGAIN)))
    #expect((try? failure.get()) == nil)
    #expect(Errno(code: EAGAIN).wouldBlock)
    #expect(Errno(code: ECONNRESET).description == "connection reset by peer")
  }

  @Test("poll: times out at the deadline, then sees written bytes at once")
  func pollReadiness() throws {
    let pipe = try Pipe()
    let started = Deadline.now
    #expect(SystemCall.poll(pipe.read, for: Int16(POLLIN), until: .after(seconds: 0.1)) == .timedOut)
    #expect(started.secondsAgo >= 0.099)
    #expect(!SystemCall.isReadable(pipe.read))
    #expect(Glibc.write(pipe.write, "x", 1) == 1)
    #expect(SystemCall.isReadable(pipe.read))
    guard case .ready(let revents) = SystemCall.poll(pipe.read, for: Int16(POLLIN), until: .after(seconds: 5)) else {
      Issue.record("not ready")
      return
    }
    #expect(revents & Int16(POLLIN) != 0)
  }

  @Test("a signal ends an interruptible wait at once; any other wait goes on to its deadline")
  func interrupts() throws {
    var action = sigaction()
    action.__sigaction_handler.sa_handler = { _ in }
    sigemptyset(&action.sa_mask)
    sigaction(SIGUSR2, &action, nil)
    // The test may run on a thread that blocks signals.
    var unblocked = sigset_t()
    sigemptyset(&unblocked)
    sigaddset(&unblocked, SIGUSR2)
    var previous = sigset_t()
    pthread_sigmask(SIG_UNBLOCK, &unblocked, &previous)
    defer { pthread_sigmask(SIG_SETMASK, &previous, nil) }
    let pipe = try Pipe()
    for interruptible in [true, false] {
      // Signals every 20 ms until the wait is over, so some arrive during it.
      let waiter = pthread_self()
      let done = Flag()
      let signaller = Thread {
        let deadline = Deadline.after(seconds: 10)
        done.condition.lock()
        while !done.isSet && !deadline.hasPassed {
          pthread_kill(waiter, SIGUSR2)
          _ = done.condition.wait(until: Date().addingTimeInterval(0.02))
        }
        done.condition.unlock()
      }
      let started = Deadline.now
      signaller.start()
      let outcome = SystemCall.poll(
        pipe.read, for: Int16(POLLIN), until: .after(seconds: interruptible ? 5 : 0.3), interruptible: interruptible)
      let elapsed = started.secondsAgo
      done.condition.lock()
      done.isSet = true
      done.condition.signal()
      done.condition.unlock()
      if interruptible {
        #expect(outcome == .interrupted)
        #expect(elapsed < 4)
      } else {
        #expect(outcome == .timedOut)
        #expect(elapsed >= 0.299)
      }
    }
  }
}
