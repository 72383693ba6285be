import Glibc

/// The one funnel for the system calls that wait or move bytes (`poll`,
/// `read`, `write`), as swift-system's `valueOrErrno(retryOnInterrupt:)` and
/// NIO's `syscall(blocking:where:_:)`: EINTR is retried here and nowhere else,
/// and a failure comes back as an ``Errno`` value instead of a global to read
/// at the right moment.
///
/// A wait that a signal must cut short (the consumer's, so Ctrl-C is seen at
/// once) says so with `interruptible`; every other wait goes on with the time
/// left until its deadline.
package enum SystemCall {
  /// What a `poll(2)` wait ended with.
  package enum PollOutcome: Equatable {
    /// The descriptor is ready: the `revents` it reported.
    case ready(Int16)
    /// The deadline passed first.
    case timedOut
    /// A signal arrived (only for an `interruptible` wait).
    case interrupted
    /// `poll` itself failed (e.g. ENOMEM).
    case failed(Errno)
  }

  /// Calls `call` (a `read`, `write` or the like, returning -1 and setting
  /// `errno` on failure) again for as long as it fails with EINTR.
  /// - Returns: the call's result, or the `errno` it failed with.
  package static func retryingInterrupts(_ call: () -> Int) -> Result<Int, Errno> {
    while true {
      let result = call()
      if result != -1 { return .success(result) }
      let code = errno
      if code != EINTR { return .failure(Errno(code: code)) }
    }
  }

  /// Waits with `poll(2)` until `descriptor` reports one of `events`, or
  /// `deadline` passes. A deadline already passed still looks once.
  /// - Parameter interruptible: a signal ends the wait with
  ///   ``PollOutcome/interrupted``; otherwise the wait goes on with the time left.
  package static func poll(
    _ descriptor: Int32, for events: Int16, until deadline: Deadline, interruptible: Bool = false
  ) -> PollOutcome {
    var entry = pollfd(fd: descriptor, events: events, revents: 0)
    while true {
      let ready = Glibc.poll(&entry, 1, deadline.remainingPollMilliseconds)
      if ready > 0 { return .ready(entry.revents) }
      if ready == 0 { return .timedOut }
      let code = errno
      if code != EINTR { return .failed(Errno(code: code)) }
      if interruptible { return .interrupted }
    }
  }

  /// Whether `descriptor` can be read without waiting (or is at its end).
  package static func isReadable(_ descriptor: Int32) -> Bool {
    if case .ready = poll(descriptor, for: Int16(POLLIN), until: Deadline(nanoseconds: 0)) { return true }
    return false
  }

  /// Sleeps until `deadline`; a signal cuts the sleep short, so the caller
  /// can look at why.
  package static func sleep(until deadline: Deadline) {
    let milliseconds = deadline.remainingPollMilliseconds
    if milliseconds > 0 { _ = Glibc.poll(nil, 0, milliseconds) }
  }
}

/// An `errno` value a system call failed with.
package struct Errno: Error, Equatable, CustomStringConvertible {
  /// The value, e.g. `ECONNRESET`.
  package let code: Int32

  /// Wraps `code`.
  package init(code: Int32) {
    self.code = code
  }

  /// Whether the call would have blocked (EAGAIN, EWOULDBLOCK).
  package var wouldBlock: Bool { code == EAGAIN || code == EWOULDBLOCK }

  /// `strerror` as hiredis words an IO error, starting in lower case:
  /// `connection reset by peer`.
  package var description: String {
    let text = String(cString: strerror(code))
    return text.prefix(1).lowercased() + text.dropFirst()
  }
}
