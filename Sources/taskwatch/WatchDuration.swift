import ArgumentParser

/// A duration given on the command line: `90`, `90s`, `1.5`, `250ms`, `5m`, `1h`.
///
/// A bare number means seconds, as in `timeout(1)`.
struct WatchDuration: ExpressibleByArgument, Equatable, CustomStringConvertible {
  /// The duration in seconds.
  let seconds: Double

  /// Creates a duration of `seconds`.
  init(seconds: Double) {
    self.seconds = seconds
  }

  /// Parses `<number>[ms|s|m|h]`; `nil` for anything else or a negative value.
  init?(argument: String) {
    let units: [(suffix: String, scale: Double)] = [("ms", 0.001), ("s", 1), ("m", 60), ("h", 3600)]
    var number = Substring(argument)
    var scale = 1.0
    for unit in units where argument.hasSuffix(unit.suffix) {
      number = argument.dropLast(unit.suffix.count)
      scale = unit.scale
      break
    }
    guard let value = Double(number), value.isFinite, value >= 0,
      number.allSatisfy({ $0.isNumber || $0 == "." })
    else { return nil }
    seconds = value * scale
  }

  /// The value as a user would write it back (`5m`, `1.5s`).
  ///
  /// Past 2^53 s (a `Double` no longer counts whole seconds, and `Int` may
  /// overflow) the value is written in seconds as Swift prints it.
  var description: String {
    guard seconds < 0x1p53 else { return "\(seconds)s" }
    if seconds >= 3600, seconds.truncatingRemainder(dividingBy: 3600) == 0 { return "\(Int(seconds / 3600))h" }
    if seconds >= 60, seconds.truncatingRemainder(dividingBy: 60) == 0 { return "\(Int(seconds / 60))m" }
    if seconds < 1, seconds > 0 { return "\(Int((seconds * 1000).rounded()))ms" }
    return seconds == seconds.rounded() ? "\(Int(seconds))s" : "\(seconds)s"
  }

  static var defaultCompletionKind: CompletionKind { .default }
}
