import Glibc
import Synchronization

/// Wakes a watch's engine thread at once, in whichever wait it is, when the
/// task iterating its events goes away (cancelled, or stopped iterating).
///
/// A pipe whose read end is in the `poll()` set of every wait the engine
/// makes (``SystemCall/poll(_:for:until:interruptible:wakeup:)``): the TCP
/// connect, the TLS handshake, writes, every reply (AUTH, SUBSCRIBE
/// confirmations, MGET, the health PING, the stream), the sentinel lookup,
/// and the sleep between reconnect attempts. ``cancel()`` writes one byte;
/// the byte is never read, so from then on every wait of the engine ends at
/// once with ``WakeupError/cancelled`` and the engine closes its connections.
/// A connection or wait without one waits as before.
///
/// Cost while not cancelled: one more descriptor in the `poll()` of a wait
/// that blocks anyway; a reply already buffered is returned without polling.
package final class EngineWakeup: Sendable {
  /// Polled by every wait; readable once cancelled.
  private let readEnd: Int32
  private let writeEnd: Int32
  private let cancelled = Atomic<Bool>(false)

  /// Creates the pipe (close-on-exec).
  /// - Throws: `pipe`'s ``Errno`` when the system has no descriptor to spare.
  package init() throws(Errno) {
    var ends: [Int32] = [-1, -1]
    guard pipe(&ends) == 0 else { throw Errno(code: errno) }
    for end in ends { _ = fcntl(end, F_SETFD, FD_CLOEXEC) }
    readEnd = ends[0]
    writeEnd = ends[1]
  }

  deinit {
    close(readEnd)
    close(writeEnd)
  }

  /// Asks the engine to stop; callable from any thread, any number of times
  /// (only the first call writes).
  package func cancel() {
    guard !cancelled.exchange(true, ordering: .acquiringAndReleasing) else { return }
    var byte: UInt8 = 1
    _ = SystemCall.retryingInterrupts { Glibc.write(writeEnd, &byte, 1) }
  }

  /// Whether ``cancel()`` was called.
  package var isCancelled: Bool { cancelled.load(ordering: .acquiring) }

  /// `poll()` on `entry` and on the wake-up together, for at most
  /// `milliseconds` (-1: no limit); one call, EINTR is the caller's.
  /// - Returns: what `poll(&entry, 1, milliseconds)` would: 1 with
  ///   `entry.revents` set, 0 on timeout, -1 with `errno` (EINTR for a signal).
  /// - Throws: ``WakeupError/cancelled`` once cancelled.
  package func poll(_ entry: inout pollfd, milliseconds: Int32) throws(WakeupError) -> Int32 {
    var entries = (entry, pollfd(fd: readEnd, events: Int16(POLLIN), revents: 0))
    let ready = withUnsafeMutableBytes(of: &entries) { raw in
      Glibc.poll(raw.baseAddress!.assumingMemoryBound(to: pollfd.self), 2, milliseconds)
    }
    if entries.1.revents != 0 { throw .cancelled }
    entry = entries.0
    return ready
  }

  /// Sleeps until `deadline` unless cancelled first; a signal cuts the sleep
  /// short, as ``SystemCall/sleep(until:)`` does.
  /// - Throws: ``WakeupError/cancelled`` once cancelled.
  package func sleep(until deadline: Deadline) throws(WakeupError) {
    var entry = pollfd(fd: readEnd, events: Int16(POLLIN), revents: 0)
    if Glibc.poll(&entry, 1, deadline.remainingPollMilliseconds) > 0 { throw .cancelled }
  }
}

/// Why a wait ended early: its ``EngineWakeup`` was cancelled. The consumer
/// above reads it as the end of the watch, never as a connection fault.
package enum WakeupError: Error, Equatable, CustomStringConvertible {
  /// ``EngineWakeup/cancel()`` was called.
  case cancelled

  /// A one-line message.
  package var description: String { "the watch was cancelled" }
}
