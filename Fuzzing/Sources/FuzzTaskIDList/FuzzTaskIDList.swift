import FuzzSupport

/// The key prefix the CLI strips from pasted ids by default.
let keyPrefix = "celery-task-meta-"

/// Id lists: positional ids and `-` (ids from standard input), as users
/// paste them. The input is cut at NUL bytes into arguments (a `-` among them
/// reads the last piece as standard input). Oracles: every word read is
/// non-empty and holds no separator (ASCII whitespace, comma), and there are
/// no more words than separator-delimited runs; an accepted list is
/// non-empty, has no duplicates, and no id holds whitespace, a control
/// character or a replaced invalid UTF-8 byte.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzTaskIDList(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
  let fields = FuzzInput(data, size).fields(separatedBy: 0, maximum: 64)
  let standardInput = Array(fields.last ?? [])
  let arguments = fields.dropLast().map { String(decoding: $0, as: UTF8.self) }
  let separators: [UInt8] = [0x20, 0x09, 0x0A, 0x0D, 0x0B, 0x0C, UInt8(ascii: ",")]
  for comments in [true, false] {
    let words = TaskIDList.words(in: standardInput, keyPrefix: Array(keyPrefix.utf8), comments: comments)
    let runs = standardInput.split(whereSeparator: { separators.contains($0) }).count
    guard words.count <= runs, words.allSatisfy({ !$0.isEmpty && !$0.utf8.contains(where: separators.contains) })
    else {
      oracleFailure("words(in:) gave \(words) for \(runs) runs")
    }
  }
  let list: TaskIDList
  do {
    // Standard input arrives in chunks, as from a pipe: here in two, cut
    // where the input says, so words cut by a chunk boundary are fuzzed too.
    var chunks =
      standardInput.isEmpty
      ? []
      : [
        Array(standardInput.prefix(Int(standardInput[0]) % standardInput.count)),
        Array(standardInput.dropFirst(Int(standardInput[0]) % standardInput.count)),
      ].filter { !$0.isEmpty }
    list = try TaskIDList(
      arguments: arguments, keyPrefix: keyPrefix,
      readStandardInput: { chunks.isEmpty ? nil : chunks.removeFirst() })
  } catch {
    _ = error.description
    return 0
  }
  guard !list.ids.isEmpty, Set(list.ids).count == list.ids.count else {
    oracleFailure("accepted \(list.ids)")
  }
  for id in list.ids {
    let bad =
      id.isEmpty
      || id.unicodeScalars.contains {
        $0.properties.isWhitespace || $0.properties.generalCategory == .control || $0 == "\u{FFFD}"
      }
    if bad { oracleFailure("accepted the id \(id.debugDescription)") }
  }
  return 0
}
