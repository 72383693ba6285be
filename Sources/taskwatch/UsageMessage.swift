/// The parser's message for a usage error, reworded as one diagnostic line.
enum UsageMessage {
  /// The first line of `message` (the parser may add a `Help:` line), with
  /// a lower-case first letter as every other diagnostic has, unless the first
  /// word is an acronym (`URL`), and no final period.
  ///
  /// `Unknown option '--fial-fast'. Did you mean '--fail-fast'?` becomes
  /// `unknown option '--fial-fast'. Did you mean '--fail-fast'?`.
  static func line(for message: String) -> String {
    var line = String(message.split(separator: "\n", omittingEmptySubsequences: true).first ?? "")
    if line.hasPrefix("Error: ") { line.removeFirst("Error: ".count) }
    if let first = line.first, first.isUppercase, let second = line.dropFirst().first, second.isLowercase {
      line = first.lowercased() + line.dropFirst()
    }
    if line.hasSuffix(".") { line.removeLast() }
    return line
  }
}
