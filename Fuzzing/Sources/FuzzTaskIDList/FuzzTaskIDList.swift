import FuzzSupport

/// Id lists: positional ids and `-` (ids from standard input). The input is
/// cut at NUL bytes into arguments (a `-` among them reads the last piece as
/// standard input). Oracles: an accepted list is non-empty, has no
/// duplicates, and no id is empty or holds whitespace, a control character
/// or a replaced invalid UTF-8 byte; the words read from standard input are
/// exactly its non-whitespace runs.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzTaskIDList(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
  let fields = FuzzInput(data, size).fields(separatedBy: 0, maximum: 64)
  let standardInput = Array(fields.last ?? [])
  let arguments = fields.dropLast().map { String(decoding: $0, as: UTF8.self) }
  let words = TaskIDList.words(in: standardInput)
  let runs = standardInput.split(whereSeparator: { [0x20, 0x09, 0x0A, 0x0D, 0x0B, 0x0C].contains($0) })
  guard words.count == runs.count, zip(words, runs).allSatisfy({ $0 == String(decoding: $1, as: UTF8.self) }) else {
    oracleFailure("words(in:) gave \(words) for \(runs.count) runs")
  }
  guard let list = try? TaskIDList(arguments: arguments, readStandardInput: { standardInput }) else { return 0 }
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
