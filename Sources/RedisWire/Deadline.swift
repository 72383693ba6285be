import Glibc

/// A point on the monotonic clock by which something must happen.
///
/// Built on `CLOCK_MONOTONIC` so wall-clock jumps never shorten or stretch a wait.
public struct Deadline: Sendable, Comparable {
  /// Nanoseconds on the monotonic clock.
  public let nanoseconds: UInt64

  /// The current instant.
  public static var now: Deadline {
    var spec = timespec()
    clock_gettime(CLOCK_MONOTONIC, &spec)
    return Deadline(nanoseconds: UInt64(spec.tv_sec) * 1_000_000_000 + UInt64(spec.tv_nsec))
  }

  /// A deadline `seconds` from now (negative values mean "already passed").
  public static func after(seconds: Double) -> Deadline {
    let now = Deadline.now.nanoseconds
    if seconds <= 0 { return Deadline(nanoseconds: now) }
    let delta = min(seconds, 1e9) * 1e9
    return Deadline(nanoseconds: now + UInt64(delta))
  }

  /// Creates a deadline at an absolute monotonic instant.
  public init(nanoseconds: UInt64) {
    self.nanoseconds = nanoseconds
  }

  /// Seconds left until the deadline; zero once it has passed.
  public var remainingSeconds: Double {
    let now = Deadline.now.nanoseconds
    return nanoseconds > now ? Double(nanoseconds - now) / 1e9 : 0
  }

  /// True once the deadline has passed.
  public var hasPassed: Bool { Deadline.now.nanoseconds >= nanoseconds }

  /// Milliseconds left, rounded up so a wait never ends early; capped for `poll()`.
  package var remainingPollMilliseconds: Int32 {
    let now = Deadline.now.nanoseconds
    guard nanoseconds > now else { return 0 }
    let ms = (nanoseconds - now + 999_999) / 1_000_000
    return Int32(min(ms, UInt64(Int32.max)))
  }

  /// The instant `seconds` after this one.
  public func adding(seconds: Double) -> Deadline {
    Deadline(nanoseconds: nanoseconds + UInt64(max(0, min(seconds, 1e9)) * 1e9))
  }

  /// Seconds from this instant to now (zero if it lies in the future).
  public var secondsAgo: Double {
    let now = Deadline.now.nanoseconds
    return now > nanoseconds ? Double(now - nanoseconds) / 1e9 : 0
  }

  /// The earlier of two deadlines.
  public static func earliest(_ a: Deadline, _ b: Deadline?) -> Deadline {
    guard let b else { return a }
    return min(a, b)
  }

  public static func < (lhs: Deadline, rhs: Deadline) -> Bool {
    lhs.nanoseconds < rhs.nanoseconds
  }
}
