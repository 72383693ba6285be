import Glibc

/// The end of a non-blocking connect: ``RedisConnection`` lets hiredis start
/// the connect (`redisConnectNonBlock`: name resolution, the socket, TCP
/// options) and waits for it here, in a `poll()` that an ``EngineWakeup``
/// can end, so a cancelled watch never sits out a connect to a host that does
/// not answer. hiredis's own timed connect blocks in a `poll()` of its own.
///
/// The failures read as hiredis words them (`connection refused`,
/// `connection timed out`); a signal ends the wait as it ended hiredis's
/// (`poll(2): interrupted system call`), so the caller's interruption check
/// runs at once.
enum ConnectWait {
  /// Waits until the connect on `socket` completes, fails, or `deadline` passes.
  /// - Throws: ``RedisError/connectFailed(endpoint:reason:)``, or
  ///   ``WakeupError/cancelled`` when `wakeup` is cancelled first.
  static func finish(socket: Int32, endpoint: String, until deadline: Deadline, wakeup: EngineWakeup?) throws {
    switch SystemCall.poll(socket, for: Int16(POLLOUT), until: deadline, interruptible: true, wakeup: wakeup) {
    case .woken: throw WakeupError.cancelled
    case .interrupted: throw failure(endpoint, EINTR, prefix: "poll(2): ")
    case .failed(let error): throw failure(endpoint, error.code, prefix: "poll(2): ")
    case .timedOut: throw failure(endpoint, ETIMEDOUT)
    case .ready: break
    }
    var code: Int32 = 0
    var length = socklen_t(MemoryLayout<Int32>.size)
    if getsockopt(socket, SOL_SOCKET, SO_ERROR, &code, &length) != 0 { code = errno }
    if code != 0 { throw failure(endpoint, code) }
  }

  private static func failure(_ endpoint: String, _ code: Int32, prefix: String = "") -> RedisError {
    .connectFailed(endpoint: endpoint, reason: prefix + Errno(code: code).description)
  }
}
