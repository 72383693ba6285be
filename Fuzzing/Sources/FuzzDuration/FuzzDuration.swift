import FuzzSupport

/// Durations: `--timeout`, `--retry-for`, `--connect-timeout`,
/// `--health-interval`. Oracles: an accepted duration is finite and ≥ 0, and
/// its description (how diagnostics write it back) exists, and below 2^53 s
/// (where a `Double` still counts whole seconds exactly) parses again to
/// nearly the same value (within the millisecond it is rounded to below 1 s).
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzDuration(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
  let text = String(decoding: FuzzInput(data, size).bytes, as: UTF8.self)
  guard let duration = WatchDuration(argument: text) else { return 0 }
  guard duration.seconds.isFinite, duration.seconds >= 0 else {
    oracleFailure("\(text.debugDescription) parsed as \(duration.seconds) s")
  }
  let written = duration.description
  guard duration.seconds < 0x1p53 else { return 0 }
  guard let again = WatchDuration(argument: written) else {
    oracleFailure("\(text.debugDescription) is written back as \(written.debugDescription), which does not parse")
  }
  let tolerance = max(0.0005 + 1e-9, duration.seconds * 1e-12)
  guard abs(again.seconds - duration.seconds) <= tolerance else {
    oracleFailure("\(text.debugDescription) (\(duration.seconds) s) is written back as \(written) (\(again.seconds) s)")
  }
  return 0
}
