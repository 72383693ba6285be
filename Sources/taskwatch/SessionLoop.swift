import TaskWatch

/// What the run loops of ``WatchSession`` and ``FeedSession`` share: how long
/// one wait may last, how an error ends the loop, and how the run ends.
enum SessionLoop {
  /// Longest single wait, so a signal that lands between two waits is still
  /// seen within a fraction of a second.
  private static let waitSlice = 0.25

  /// How long the next wait may last: one slice, never past the deadline.
  static func nextWait(before deadline: Deadline?) -> Double {
    min(deadline?.remainingSeconds ?? waitSlice, waitSlice)
  }

  /// The outcome for the error that stopped the loop.
  /// - Parameter atDeadline: The outcome when the consumer's deadline passed,
  ///   which depends on the session.
  static func outcome(of error: any Error, atDeadline: @autoclosure () -> ExitStatus.Outcome) -> ExitStatus.Outcome {
    switch error {
    case is StandardStreams.OutputClosed:
      return .outputClosed
    case ConsumerError.deadlinePassed:
      return atDeadline()
    default:
      if let signal = SignalTrap.pending { return .signalled(signal) }
      return .failed(error)
    }
  }

  /// Ends the run: the last output with the `--summary` line unless standard
  /// output was closed, then the diagnostic, and returns the exit status.
  /// - Parameters:
  ///   - statuses: Every task seen, for the summary; built only when
  ///     `summary` asks for it (100,000 tasks make megabytes of it).
  ///   - started: When the run started, for the summary's elapsed time.
  ///   - diagnostic: The message for an outcome only the session can word
  ///     (the deadline, unsaved groups); a failure speaks for itself.
  static func end(
    _ outcome: ExitStatus.Outcome, writer: inout some StateOutput, statuses: @autoclosure () -> [TaskStatus],
    started: Deadline,
    summary: Bool, diagnostic: String?
  ) -> ExitStatus {
    let status = ExitStatus.forOutcome(outcome)
    // Before the diagnostics, so the live table's last redraw does not move
    // up over a line it did not draw.
    if case .outputClosed = outcome {
    } else {
      let elapsed = Double(Deadline.now.nanoseconds - started.nanoseconds) / 1e9
      try? writer.finish(
        summary: summary ? RunSummary(statuses: statuses(), elapsedSeconds: elapsed, exitStatus: status) : nil)
    }
    if case .failed(let error) = outcome {
      StandardStreams.diagnose(String(describing: error))
    } else if let diagnostic {
      StandardStreams.diagnose(diagnostic)
    }
    return status
  }
}
