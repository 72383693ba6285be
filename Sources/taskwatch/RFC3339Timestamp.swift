import Glibc
import TaskWatch

/// Formats wall-clock times as RFC 3339 UTC with milliseconds
/// (`2026-11-25T19:12:08.938Z`), computing the calendar part once per second
/// and keeping the whole quoted text of the last millisecond (a burst's lines
/// mostly share it).
struct RFC3339Timestamp {
  private var cachedSecond = Int.min
  private var cachedPrefix = [UInt8]()
  private var cachedMillisecond = (second: Int.min, millisecond: -1)
  private var cachedQuoted = [UInt8]()

  /// Appends the quoted timestamp of `time` to `buffer`.
  mutating func appendQuoted(_ time: WallClockTime, to buffer: inout [UInt8]) {
    buffer.append(contentsOf: quoted(time))
  }

  /// The quoted timestamp of `time` (the kept text: no copy is made).
  mutating func quoted(_ time: WallClockTime) -> [UInt8] {
    let millisecond = time.nanoseconds / 1_000_000
    if time.seconds != cachedMillisecond.second || millisecond != cachedMillisecond.millisecond {
      if time.seconds != cachedSecond { cachePrefix(of: time) }
      cachedMillisecond = (time.seconds, millisecond)
      cachedQuoted.removeAll(keepingCapacity: true)
      cachedQuoted.append(UInt8(ascii: "\""))
      cachedQuoted.append(contentsOf: cachedPrefix)
      Self.appendDigits(millisecond, width: 3, to: &cachedQuoted)
      cachedQuoted.append(contentsOf: [UInt8(ascii: "Z"), UInt8(ascii: "\"")])
    }
    return cachedQuoted
  }

  private mutating func cachePrefix(of time: WallClockTime) {
    cachedSecond = time.seconds
    var seconds = time_t(time.seconds)
    var parts = tm()
    gmtime_r(&seconds, &parts)
    cachedPrefix.removeAll(keepingCapacity: true)
    Self.appendDigits(Int(parts.tm_year) + 1900, width: 4, to: &cachedPrefix)
    cachedPrefix.append(UInt8(ascii: "-"))
    Self.appendDigits(Int(parts.tm_mon) + 1, width: 2, to: &cachedPrefix)
    cachedPrefix.append(UInt8(ascii: "-"))
    Self.appendDigits(Int(parts.tm_mday), width: 2, to: &cachedPrefix)
    cachedPrefix.append(UInt8(ascii: "T"))
    Self.appendDigits(Int(parts.tm_hour), width: 2, to: &cachedPrefix)
    cachedPrefix.append(UInt8(ascii: ":"))
    Self.appendDigits(Int(parts.tm_min), width: 2, to: &cachedPrefix)
    cachedPrefix.append(UInt8(ascii: ":"))
    Self.appendDigits(Int(parts.tm_sec), width: 2, to: &cachedPrefix)
    cachedPrefix.append(UInt8(ascii: "."))
  }

  /// The timestamp of `time` as a string (for tests and messages).
  mutating func string(for time: WallClockTime) -> String {
    var buffer = [UInt8]()
    appendQuoted(time, to: &buffer)
    return String(decoding: buffer.dropFirst().dropLast(), as: UTF8.self)
  }

  private static func appendDigits(_ value: Int, width: Int, to buffer: inout [UInt8]) {
    var divisor = 1
    for _ in 1..<width { divisor *= 10 }
    var remaining = value
    while divisor > 0 {
      buffer.append(UInt8(ascii: "0") + UInt8((remaining / divisor) % 10))
      remaining %= divisor
      divisor /= 10
    }
  }
}
