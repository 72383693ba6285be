import ArgumentParser
import Glibc

/// What standard output carries (`--format`).
enum OutputFormat: String, CaseIterable, ExpressibleByArgument {
  /// `text` when standard output is a terminal, `json` otherwise.
  case auto
  /// NDJSON, the output contract.
  case json
  /// The human view: a live table on a terminal, plain lines elsewhere.
  case text

  /// One line on what the value means, for completions.
  var summary: String {
    switch self {
    case .auto: return "live table on a terminal, JSON lines otherwise"
    case .json: return "one JSON object per state change"
    case .text: return "human view: live table, or plain lines on a pipe"
    }
  }

  /// The format after `auto` is decided by whether standard output is a terminal.
  func resolved(outputIsTerminal: Bool) -> OutputFormat {
    self == .auto ? (outputIsTerminal ? .text : .json) : self
  }
}

/// Whether the human view uses colour (`--color`).
enum ColorChoice: String, CaseIterable, ExpressibleByArgument {
  /// Colour on a terminal, unless `NO_COLOR` is set or `TERM` is `dumb`.
  case auto
  /// Always colour (overrides `NO_COLOR`, as the flag is the more specific wish).
  case always
  /// Never colour.
  case never

  /// One line on what the value means, for completions.
  var summary: String {
    switch self {
    case .auto: return "on a terminal, unless NO_COLOR is set or TERM=dumb"
    case .always: return "always, even into a pipe"
    case .never: return "never"
    }
  }

  /// Whether to emit colour escapes.
  /// - Parameters:
  ///   - outputIsTerminal: `isatty(1)`.
  ///   - environment: looks up `NO_COLOR` and `TERM` (empty counts as unset).
  func enabled(outputIsTerminal: Bool, environment: (String) -> String?) -> Bool {
    switch self {
    case .always: return true
    case .never: return false
    case .auto:
      return outputIsTerminal && environment("NO_COLOR") == nil && environment("TERM") != "dumb"
    }
  }
}

/// Facts about the terminal on standard output.
enum Terminal {
  /// Whether standard output is a terminal.
  static var outputIsTerminal: Bool { isatty(STDOUT_FILENO) == 1 }

  /// The terminal's size in columns and rows (`ioctl(TIOCGWINSZ)`), or 80×24
  /// when it cannot be read.
  static func size(of descriptor: Int32 = STDOUT_FILENO) -> (width: Int, height: Int) {
    var size = winsize()
    guard ioctl(descriptor, UInt(TIOCGWINSZ), &size) == 0, size.ws_col > 0, size.ws_row > 0 else {
      return (80, 24)
    }
    return (Int(size.ws_col), Int(size.ws_row))
  }
}

/// Turns SIGWINCH into a flag the live table checks before redrawing.
enum ResizeTrap {
  nonisolated(unsafe) private static var received: Int32 = 0

  /// Installs the handler (without `SA_RESTART`, so a resize also ends the
  /// current wait early and the table is redrawn at once).
  static func install() {
    var action = sigaction()
    action.__sigaction_handler.sa_handler = { _ in ResizeTrap.received = 1 }
    sigemptyset(&action.sa_mask)
    action.sa_flags = 0
    sigaction(SIGWINCH, &action, nil)
  }

  /// Whether the terminal was resized since the last call; clears the flag.
  static func takeResize() -> Bool {
    guard received != 0 else { return false }
    received = 0
    return true
  }
}
