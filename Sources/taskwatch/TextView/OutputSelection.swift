/// The writer for standard output, by its concrete type: the session is
/// built for that type (see ``WatchSession``).
enum SelectedOutput {
  /// `--format json` (or a pipe with `auto`), and `--quiet`.
  case ndjson(NDJSONWriter)
  /// Text lines, for a pipe or a dumb terminal.
  case plain(PlainLineWriter)
  /// The live table of a terminal.
  case terminal(TerminalView)
}

/// Picks the writer for standard output from `--format`, `--color` and `--quiet`.
extension OutputOptions {
  /// The output the run loop writes to.
  /// - Parameters:
  ///   - outputIsTerminal: `isatty(1)`, which decides `--format auto` and `--color auto`.
  ///   - environment: looks up `NO_COLOR` and `TERM`.
  ///   - expectedTasks: the number of ids given, which the live view counts while connecting.
  func makeOutput(outputIsTerminal: Bool, environment: (String) -> String?, expectedTasks: Int? = nil)
    -> SelectedOutput
  {
    let color = color.enabled(outputIsTerminal: outputIsTerminal, environment: environment)
    switch format.resolved(outputIsTerminal: outputIsTerminal) {
    case .text where !quiet:
      // A dumb terminal cannot move the cursor: it gets the plain lines a pipe gets.
      guard outputIsTerminal, environment("TERM") != "dumb" else { return .plain(PlainLineWriter(color: color)) }
      return .terminal(TerminalView(color: color, expectedTasks: expectedTasks))
    default:
      var writer = NDJSONWriter()
      writer.omitResult = noResult
      writer.quiet = quiet
      return .ndjson(writer)
    }
  }
}
