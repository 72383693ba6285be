import FuzzSupport
import Glibc
import TaskWatch

/// The NDJSON writer's output: a state line built from a task id, a state
/// name, a previous state and a payload taken from the input (cut at 0xFF
/// bytes), written as the CLI writes it, with and without `--no-result`.
/// Oracle: every line the writer writes (to a temporary file, so chunks written
/// out during a large burst are checked too) is one strict JSON object. The
/// writer and its helpers are the CLI's own files (symbolic links).
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzNDJSON(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
  let input = FuzzInput(data, size)
  let fields = input.fields(separatedBy: 0xFF, maximum: 5)
  func text(_ index: Int) -> String? {
    index < fields.count ? String(decoding: fields[index], as: UTF8.self) : nil
  }
  let taskID = text(0) ?? ""
  let state = TaskState(text(1) ?? "PENDING")
  let previous = text(2).map(TaskState.init)
  let clock = fields.count > 3 ? fields[3].reduce(0) { ($0 &* 31) &+ Int($1) } : 0
  let meta = fields.count > 4 ? try? TaskMeta.decode(Array(fields[4])) : nil
  let observedAt = WallClockTime(seconds: clock & 0xFFFF_FFFF, nanoseconds: abs(clock % 1_000_000_000))
  guard let stream = tmpfile() else { fatalError("tmpfile: errno \(errno)") }
  defer { fclose(stream) }
  let file = fileno(stream)
  var writer = NDJSONWriter(descriptor: file)
  for (omitResult, source) in [(false, StateChange.Source.snapshot), (true, .message), (false, .resync)] {
    writer.omitResult = omitResult
    writer.write(
      StateChange(taskID: taskID, state: state, previous: previous, source: source, observedAt: observedAt, meta: meta))
  }
  do {
    try writer.flush()
  } catch {
    oracleFailure("the memory file refused the output")
  }
  let output = contents(of: file)
  guard output.last == 0x0A else { oracleFailure("the output does not end with a line break") }
  let lines = output.dropLast().split(separator: 0x0A, omittingEmptySubsequences: false)
  guard lines.count == 3 else { oracleFailure("3 changes written as \(lines.count) lines") }
  for line in lines where !StrictJSON.isObject(line) {
    oracleFailure("not a strict JSON object: \(String(decoding: line, as: UTF8.self))")
  }
  return 0
}

private func contents(of file: Int32) -> [UInt8] {
  let size = Int(lseek(file, 0, SEEK_END))
  var bytes = [UInt8](repeating: 0, count: size)
  let count = bytes.withUnsafeMutableBytes { pread(file, $0.baseAddress, size, 0) }
  guard count == size else { fatalError("pread: \(count) of \(size) bytes") }
  return bytes
}
