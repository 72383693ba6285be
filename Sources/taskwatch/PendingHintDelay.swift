import ArgumentParser

/// `--pending-hint-after`: how long a task may stay PENDING with nothing
/// stored before taskwatch says why it might be; `0` or `off` never does.
struct PendingHintDelay: ExpressibleByArgument, Equatable, CustomStringConvertible {
  /// The delay in seconds; `nil` when hints are off.
  let seconds: Double?

  /// Creates a delay of `seconds` (`nil`: off).
  init(seconds: Double?) {
    self.seconds = seconds
  }

  /// Parses `off`, or a duration as ``WatchDuration`` reads it (`0` is off).
  init?(argument: String) {
    if argument == "off" {
      seconds = nil
      return
    }
    guard let duration = WatchDuration(argument: argument) else { return nil }
    seconds = duration.seconds > 0 ? duration.seconds : nil
  }

  /// The value as a user would write it back (`10s`, `off`).
  var description: String { seconds.map { WatchDuration(seconds: $0).description } ?? "off" }

  static var defaultCompletionKind: CompletionKind { .default }
}
