import TaskWatch

/// Where the run loop sends what it observed: NDJSON (the output contract) or
/// the human view.
protocol StateOutput {
  /// Takes one observed transition.
  mutating func write(_ change: StateChange)
  /// Says where to read the states of the tasks still unready, when the
  /// output needs them (the heartbeat): the session's consumer knows them.
  mutating func watchUnready(_ unready: @escaping () -> [TaskState])
  /// Puts what was written on the screen or into the pipe; the run loop calls
  /// it before every wait.
  /// - Throws: ``StandardStreams/OutputClosed`` when the reader is gone.
  mutating func flush() throws(StandardStreams.OutputClosed)
  /// Ends the output once the run is over: the last table, the failures, and
  /// with `--summary` the summary.
  mutating func finish(summary: RunSummary?) throws(StandardStreams.OutputClosed)
  /// Prints a `taskwatch: …` diagnostic on standard error while the run goes
  /// on, so a view that redraws in place can make room for it.
  mutating func diagnose(_ message: String)
  /// Takes what the consumer noticed (a lost link, a recovery, a skipped
  /// message): a view may show the connection's state; every output prints it
  /// as a diagnostic.
  mutating func note(_ diagnostic: ConsumerDiagnostic)
}

extension StateOutput {
  /// Needs no unready tasks.
  mutating func watchUnready(_ unready: @escaping () -> [TaskState]) {}

  /// Prints the diagnostic.
  mutating func note(_ diagnostic: ConsumerDiagnostic) {
    diagnose(diagnostic.description)
  }

  /// Writes the diagnostic to standard error.
  mutating func diagnose(_ message: String) {
    StandardStreams.diagnose(message)
  }
}

extension NDJSONWriter: StateOutput {
  /// Writes the `{"type":"summary",…}` line when asked for, and flushes.
  mutating func finish(summary: RunSummary?) throws(StandardStreams.OutputClosed) {
    if let summary { writeLine(summary.json) }
    try flush()
  }
}
