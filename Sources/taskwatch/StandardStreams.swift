import Glibc

/// The process's standard streams, written with plain `write(2)` so nothing is
/// buffered behind our back.
enum StandardStreams {
  /// Raised when the reader of standard output went away (EPIPE).
  struct OutputClosed: Error {}

  /// Writes all of `bytes` to `descriptor`, retrying short writes and EINTR.
  /// - Throws: ``OutputClosed`` when the reader is gone.
  static func writeAll(_ bytes: [UInt8], to descriptor: Int32) throws(OutputClosed) {
    var failed = false
    bytes.withUnsafeBytes { raw in
      var offset = 0
      while offset < raw.count {
        let written = write(descriptor, raw.baseAddress! + offset, raw.count - offset)
        if written < 0 {
          if errno == EINTR { continue }
          failed = true
          return
        }
        offset += written
      }
    }
    if failed { throw OutputClosed() }
  }

  /// Prints one `taskwatch: …` diagnostic line on standard error.
  static func diagnose(_ message: String) {
    let line = "taskwatch: " + message.replacingNewlines() + "\n"
    try? writeAll(Array(line.utf8), to: STDERR_FILENO)
  }

  /// Reads the next chunk of standard input (up to 64 KB).
  /// - Returns: the bytes, or `nil` at the end of the input (or on an error).
  static func readStandardInput() -> [UInt8]? {
    var chunk = [UInt8](repeating: 0, count: 65536)
    while true {
      let count = chunk.withUnsafeMutableBytes { read(STDIN_FILENO, $0.baseAddress, $0.count) }
      if count < 0 && errno == EINTR { continue }
      guard count > 0 else { return nil }
      chunk.removeLast(chunk.count - count)
      return chunk
    }
  }
}

extension String {
  /// The text on one line: line breaks become spaces, so a diagnostic is one line.
  func replacingNewlines() -> String {
    String(map { $0.isNewline ? " " : $0 })
  }
}
