import Glibc

/// An instant on the wall clock (`CLOCK_REALTIME`), to the nanosecond.
public struct WallClockTime: Sendable, Equatable, Comparable {
  /// Whole seconds since the Unix epoch.
  public let seconds: Int
  /// Nanoseconds within the second.
  public let nanoseconds: Int

  /// Creates an instant from its parts.
  public init(seconds: Int, nanoseconds: Int) {
    self.seconds = seconds
    self.nanoseconds = nanoseconds
  }

  /// The current wall-clock time.
  public static var now: WallClockTime {
    var spec = timespec()
    clock_gettime(CLOCK_REALTIME, &spec)
    return WallClockTime(seconds: spec.tv_sec, nanoseconds: spec.tv_nsec)
  }

  public static func < (lhs: WallClockTime, rhs: WallClockTime) -> Bool {
    (lhs.seconds, lhs.nanoseconds) < (rhs.seconds, rhs.nanoseconds)
  }
}
