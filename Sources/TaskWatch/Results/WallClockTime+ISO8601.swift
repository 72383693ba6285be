extension WallClockTime {
  /// Reads an ISO 8601 date and time as Python's `datetime.isoformat()`
  /// writes it (Celery's `date_done`): `2026-11-25T20:58:57.936906+00:00`,
  /// with `T` or a space between date and time, optional fractional seconds,
  /// and `Z`, `±HH:MM` or no offset (a naive time is taken as UTC, as Celery
  /// stores UTC).
  /// - Returns: `nil` when `text` is not of that form.
  public init?(iso8601 text: String) {
    let bytes = Array(text.utf8)
    func number(_ start: Int, _ length: Int) -> Int? {
      guard start + length <= bytes.count else { return nil }
      var value = 0
      for byte in bytes[start..<(start + length)] {
        guard (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) else { return nil }
        value = value * 10 + Int(byte - UInt8(ascii: "0"))
      }
      return value
    }
    guard bytes.count >= 19, bytes[4] == UInt8(ascii: "-"), bytes[7] == UInt8(ascii: "-"),
      bytes[10] == UInt8(ascii: "T") || bytes[10] == UInt8(ascii: " "),
      bytes[13] == UInt8(ascii: ":"), bytes[16] == UInt8(ascii: ":"),
      let year = number(0, 4), let month = number(5, 2), let day = number(8, 2),
      let hour = number(11, 2), let minute = number(14, 2), let second = number(17, 2),
      (1...12).contains(month), (1...31).contains(day), hour < 24, minute < 60, second < 61
    else { return nil }
    var index = 19
    var nanoseconds = 0
    if index < bytes.count, bytes[index] == UInt8(ascii: ".") {
      index += 1
      var scale = 100_000_000
      let start = index
      while index < bytes.count, let digit = number(index, 1) {
        nanoseconds += digit * scale
        scale /= 10
        index += 1
      }
      guard index > start else { return nil }
    }
    var offset = 0
    if index < bytes.count {
      switch bytes[index] {
      case UInt8(ascii: "Z") where index + 1 == bytes.count:
        break
      case UInt8(ascii: "+"), UInt8(ascii: "-"):
        guard bytes.count == index + 6, bytes[index + 3] == UInt8(ascii: ":"),
          let hours = number(index + 1, 2), let minutes = number(index + 4, 2)
        else { return nil }
        offset = (hours * 3600 + minutes * 60) * (bytes[index] == UInt8(ascii: "-") ? -1 : 1)
      default:
        return nil
      }
    }
    let days = Self.daysSinceEpoch(year: year, month: month, day: day)
    self.init(seconds: days * 86_400 + hour * 3600 + minute * 60 + second - offset, nanoseconds: nanoseconds)
  }

  /// Days from 1970-01-01 to a date of the proleptic Gregorian calendar
  /// (Howard Hinnant's `days_from_civil`).
  private static func daysSinceEpoch(year: Int, month: Int, day: Int) -> Int {
    let year = month <= 2 ? year - 1 : year
    let era = (year >= 0 ? year : year - 399) / 400
    let yearOfEra = year - era * 400
    let dayOfYear = (153 * (month + (month > 2 ? -3 : 9)) + 2) / 5 + day - 1
    let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
    return era * 146_097 + dayOfEra - 719_468
  }
}
