import FuzzSupport
@_spi(Fuzzing) import TaskWatch

/// Reply parsing: the bytes a Redis server (or anything that answers on its
/// port) sends. The input is parsed whole, then again fed in pieces cut at
/// points chosen from the input; both must give the same replies and fail (or
/// wait for more) at the same place, and so must a subscribed connection's
/// reader, whose only difference is a message read as one value.
/// `FuzzingEntryPoints.ReplyReader` wraps
/// the reader every connection uses, so this follows it when it is replaced.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzReplies(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
  let input = FuzzInput(data, size)
  let whole = parse([input.bytes[...]])
  var pieces: [ArraySlice<UInt8>] = []
  var start = 0
  for cut in input.cutPoints(count: 1 + Int(input.bytes.first ?? 0) % 8) {
    pieces.append(input.bytes[start..<cut])
    start = cut
  }
  pieces.append(input.bytes[start...])
  let split = parse(pieces)
  guard whole == split else {
    oracleFailure("split feeding gave \(split), whole feeding \(whole)")
  }
  // A subscribed connection's reader: the same replies, failing at the same
  // place, except that a message may come as one value.
  let subscribed = parse(pieces, subscribed: true)
  guard subscribed.failed == whole.failed, subscribed.replies.count == whole.replies.count else {
    oracleFailure("the subscribed reader gave \(subscribed), the plain one \(whole)")
  }
  for (read, plain) in zip(subscribed.replies, whole.replies)
  where read != plain && !FuzzingEntryPoints.ReplyReader.isMessage(read) {
    oracleFailure("the subscribed reader gave \(read), the plain one \(plain)")
  }
  return 0
}

/// What a parser made of a stream: the replies, then whether it failed.
struct ParseOutcome: Equatable {
  var replies: [String] = []
  var failed = false
}

private func parse(_ pieces: [ArraySlice<UInt8>], subscribed: Bool = false) -> ParseOutcome {
  let parser = FuzzingEntryPoints.ReplyReader(subscribed: subscribed)
  var outcome = ParseOutcome()
  for piece in pieces {
    parser.feed(Array(piece))
    do {
      while let reply = try parser.next() { outcome.replies.append(reply) }
    } catch {
      outcome.failed = true
      return outcome
    }
  }
  return outcome
}
