/// Picks the writer for standard output from `--format`, `--color` and `--quiet`.
extension OutputOptions {
  /// The output the run loop writes to.
  /// - Parameters:
  ///   - outputIsTerminal: `isatty(1)`, which decides `--format auto` and `--color auto`.
  ///   - environment: looks up `NO_COLOR` and `TERM`.
  func makeOutput(outputIsTerminal: Bool, environment: (String) -> String?) -> any StateOutput {
    let color = color.enabled(outputIsTerminal: outputIsTerminal, environment: environment)
    switch format.resolved(outputIsTerminal: outputIsTerminal) {
    case .text where !quiet:
      return outputIsTerminal ? TerminalView(color: color) : PlainLineWriter(color: color)
    default:
      var writer = NDJSONWriter()
      writer.omitResult = noResult
      writer.quiet = quiet
      return writer
    }
  }
}
